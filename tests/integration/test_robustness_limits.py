"""Flood control and limits: what is over a limit is refused with a clear reason, and only that.

Loopback is exempt from the per-address limits, and these tests may only use loopback; uvicorn
trusts ``X-Forwarded-For`` from a local proxy, so a WebSocket client can stand for another
address the way it would behind a reverse proxy in production.
"""

from __future__ import annotations

import json
import socket

from raw import RawWebSocket
from support import ServerProcess, WebUser
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from app.domain.goodbye import Goodbye


def close_of(ws: ClientConnection) -> tuple[int, str]:
    """Read (and discard) frames until the server closes; return its close code and reason."""
    try:
        while True:
            ws.recv(5)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "closed without a close frame"
        return closed.rcvd.code, closed.rcvd.reason


def from_address(server: ServerProcess, address: str, nick: str) -> WebUser:
    return server.web(nick, headers={"X-Forwarded-For": address})


# -- flood control ----------------------------------------------------------------------------


def test_messages_over_the_burst_are_refused_with_a_notice_and_not_broadcast(start_server) -> None:
    server = start_server(CHAT_BURST="3", CHAT_RATE="0.01", CHAT_KICK_AFTER="100", CHAT_PASTE_LINES="0")
    observer = server.tcp(nick="observer")
    web, tcp = server.web("webflood"), server.tcp()  # no /nick: a command takes a token too
    for n in range(5):
        web.say(f"web {n}")
        tcp.send(f"tcp {n}")
    refusals = [web.expect(type="error", code="rate_limited") for _ in range(2)]
    assert refusals[0]["text"] == "Slow down: not sent (limits: 3 lines at once, then 0.01 a second)"
    assert [e["text"] for e in web.events if e.get("nick") == "webflood" and e["type"] == "message"] == [
        "web 0",
        "web 1",
        "web 2",
    ]
    for _ in range(2):
        assert tcp.expect(lambda line: line.startswith("! ")) == (
            "! Slow down: not sent (limits: 3 lines at once, then 0.01 a second)"
        )
    said = [line for line in observer.silent(0.5) if line.startswith("[")]
    assert sorted(said) == sorted(
        [f"[webflood] web {n}" for n in range(3)] + [f"[{tcp.nick}] tcp {n}" for n in range(3)]
    )


def test_sustained_flooding_disconnects_with_the_reason(start_server) -> None:
    server = start_server(CHAT_BURST="2", CHAT_RATE="0.01", CHAT_KICK_AFTER="5")
    observer = server.web("observer")
    web, tcp = server.web("webflood"), server.tcp(nick="tcpflood")
    for n in range(30):  # past the burst and a whole paste: 10 refusals, the fifth kicks
        web.say(f"spam {n}")
        tcp.send(f"spam {n}")
    assert web.expect(type="error", code="disconnected")["text"] == Goodbye.FLOODING.text
    assert close_of(web.ws) == (Goodbye.FLOODING.code, "flooding")
    assert tcp.expect(lambda line: line.startswith("! Disconnected")) == f"! {Goodbye.FLOODING.text}"
    assert tcp.closed()
    leaves = [observer.expect(type="leave") for _ in range(2)]
    assert {(e["nick"], e["text"]) for e in leaves} == {("webflood", "flooding"), ("tcpflood", "flooding")}


def test_one_address_shares_one_budget_across_its_connections(start_server) -> None:
    server = start_server(CHAT_BURST="3", CHAT_RATE="0.01", CHAT_KICK_AFTER="100", CHAT_PASTE_LINES="0")
    tab1, tab2 = from_address(server, "203.0.113.7", "tab1"), from_address(server, "203.0.113.7", "tab2")
    other = from_address(server, "198.51.100.9", "other")
    tab1.say("one")
    tab1.say("two")
    tab2.say("three")
    tab2.say("four")  # the address's fourth message: over its burst of 3
    assert tab2.expect(type="error")["code"] == "rate_limited"
    other.say("mine")  # another address has its own budget
    assert [e["text"] for e in other.silent(0.5) if e["type"] == "message"] == ["one", "two", "three", "mine"]


def test_loopback_connections_each_keep_their_own_budget(start_server) -> None:
    server = start_server(CHAT_BURST="3", CHAT_RATE="0.01", CHAT_KICK_AFTER="100")
    first, second = server.web("first"), server.web("second")
    for n in range(3):
        first.say(f"first {n}")
        second.say(f"second {n}")
    assert not [e for e in first.silent(0.5) + second.silent(0.1) if e["type"] == "error"]


# -- sizes --------------------------------------------------------------------------------------


def test_message_longer_than_the_limit_is_refused_and_the_limit_itself_passes(start_server) -> None:
    server = start_server(CHAT_MAX_MESSAGE="100")
    observer = server.tcp(nick="observer")
    web, tcp = server.web("webuser"), server.tcp(nick="tcpuser")
    web.say("w" * 101)
    assert web.expect(type="error")["text"] == "Message not sent: 101 characters, the limit is 100"
    tcp.send("t" * 101)
    assert tcp.expect(lambda line: line.startswith("!")) == "! Message not sent: 101 characters, the limit is 100"
    web.say("w" * 100)
    tcp.send("t" * 100)
    assert sorted(line for line in observer.silent(0.5) if line.startswith("[")) == [
        "[tcpuser] " + "t" * 100,
        "[webuser] " + "w" * 100,
    ]


def test_websocket_frame_over_the_limit_closes_with_1009(start_server) -> None:
    server = start_server(CHAT_WS_MAX_FRAME="1024")
    observer = server.tcp(nick="observer")
    big = server.web("big")
    big.send_raw(json.dumps({"type": "say", "text": "x" * 2000}))
    assert close_of(big.ws)[0] == 1009
    assert observer.expect(lambda line: line.startswith("* big left"))
    fine = server.web("fine")
    fine.say("y" * 900)
    assert observer.expect(lambda line: line.startswith("[fine]")) == "[fine] " + "y" * 900


def test_tcp_line_over_the_limit_is_refused_before_it_ends_and_never_sent(start_server) -> None:
    server = start_server(CHAT_TCP_MAX_LINE="1024")
    observer = server.web("observer")
    sender = server.tcp(nick="sender")
    sender.send_raw(b"z" * (1 << 20))  # 1 MiB and no newline yet
    # Refused while the line is still open: the server is not holding it whole to wait for its end.
    assert sender.read_line() == "! Line too long: not sent (the limit is 1024 bytes)"
    sender.send_raw(b"z" * 4096 + b"\r\nafter the long line\r\n")
    assert observer.expect(type="message")["text"] == "after the long line"
    assert sender.silent(0.3) == []  # told once per long line


# -- connections --------------------------------------------------------------------------------


def test_connections_over_the_total_are_refused_on_both_gateways(start_server) -> None:
    server = start_server(CHAT_MAX_CONNECTIONS="2")
    first, second = server.tcp(nick="first"), server.web("second")
    with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=5) as refused:
        assert refused.recv(4096) == b"! Connection refused: server full, try again later\r\n"
        assert refused.recv(4096) == b""
    with connect(server.ws_url, open_timeout=5) as ws:
        assert json.loads(ws.recv(5)) == {
            "type": "error",
            "text": "Connection refused: server full, try again later",
            "code": "refused",
        }
        assert close_of(ws) == (1013, "server full")
    assert server.health()["clients"]["total"] == 2
    first.send("/quit")
    second.expect(type="leave", nick="first")
    assert server.tcp(nick="third").nick == "third"


def test_connections_over_the_per_address_limit_are_refused(start_server) -> None:
    server = start_server(CHAT_MAX_PER_IP="2")
    kept = [from_address(server, "203.0.113.7", f"tab{n}") for n in range(2)]
    refused = RawWebSocket(server.port, headers={"X-Forwarded-For": "203.0.113.7"})
    assert refused.status == 101
    opcode, payload = refused.recv_frame()
    assert opcode == 0x1
    assert json.loads(payload)["text"] == "Connection refused: too many connections from your address (limit 2)"
    assert refused.close_frame() == (1013, "too many connections from your address: limit 2")
    assert from_address(server, "198.51.100.9", "elsewhere").nick == "elsewhere"
    local = [server.web(f"local{n}") for n in range(3)]  # loopback is exempt
    assert len(local) == 3
    assert server.health()["clients"]["web"] == 6
    kept[0].say("still here")
    assert local[0].expect(type="message")["text"] == "still here"

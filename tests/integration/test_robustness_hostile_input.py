"""Hostile bytes on either gateway: each gets a clear error or is cleaned, the room keeps working
for two fresh clients, and nothing reaching another user carries a control character."""

from __future__ import annotations

import re
from collections.abc import Iterator
from itertools import count

import pytest
from raw import RawWebSocket
from support import ServerProcess, TcpUser, WebUser
from websockets.exceptions import ConnectionClosed

UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
"""What must never reach another user: C0/C1 controls, DEL, bidi overrides and isolates."""


serial = count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module (each test checks it is still healthy); nicks are unique per test."""
    # Many tests come and go on this one server: keep every join and leave announced on its own.
    server = ServerProcess(tmp_path_factory.mktemp("hostile"), {"CHAT_CHURN_CALM": "100000"}).start()
    yield server
    server.stop()


@pytest.fixture
def room(server: ServerProcess) -> tuple[ServerProcess, TcpUser, WebUser, str]:
    """The server, an observer on each gateway present before the hostile input, and a fresh nick."""
    n = next(serial)
    return server, server.tcp(nick=f"tcpwatch{n}"), server.web(f"webwatch{n}"), f"sender{n}"


def still_chatting(server: ServerProcess, *observers: TcpUser | WebUser) -> None:
    """Two fresh clients, one per gateway, talk both ways; what observers got is clean."""
    n = next(serial)
    tcp, web = server.tcp(nick=f"freshtcp{n}"), server.web(f"freshweb{n}")
    web.say("ping from the web")
    assert tcp.expect(lambda line: line.startswith(f"[freshweb{n}]")) == f"[freshweb{n}] ping from the web"
    tcp.send("pong from telnet")
    assert web.expect(type="message", nick=f"freshtcp{n}")["text"] == "pong from telnet"
    for observer in observers:
        observer.silent(0.1)
        if isinstance(observer, TcpUser):
            texts = observer.lines
        else:
            texts = [str(e.get(field, "")) for e in observer.events for field in ("text", "nick")]
        assert not [text for text in texts if UNSAFE.search(text)]
    assert "Traceback" not in server.output()


# -- TCP -----------------------------------------------------------------------------------------

CLEANED_ON_TCP = [
    pytest.param(b"caf\xc3 \x80\xc0 bad utf-8\r\n", "caf\ufffd \ufffd\ufffd bad utf-8", id="invalid-utf8"),
    pytest.param(b"nul\x00 in\x00side\r\n", "nul inside", id="nul"),
    pytest.param(b"\x1b[31mred\x1b[0m \x1b]0;owned\x07title \x1b[2Jclear\r\n", "red title clear", id="esc-csi-osc"),
    pytest.param("c1\u0085 \u0090controls\r\n".encode(), "c1  controls", id="c1"),
    pytest.param("bidi \u202eexe.txt\r\n".encode(), "bidi exe.txt", id="bidi-in-text"),
    pytest.param(b"\xff\xfb\x01\xff\xfd\x03neg\xff\xf1otiated\r\n", "negotiated", id="telnet-iac"),
]


@pytest.mark.parametrize(("sent", "shown"), CLEANED_ON_TCP)
def test_tcp_input_is_cleaned_before_anyone_sees_it(room, sent: bytes, shown: str) -> None:
    server, tcp_watch, web_watch, me = room
    sender = server.tcp(nick=me)
    sender.send_raw(sent)
    assert tcp_watch.expect(lambda line: line.startswith(f"[{me}]")) == f"[{me}] {shown}"
    assert web_watch.expect(type="message", nick=me)["text"] == shown
    still_chatting(server, tcp_watch, web_watch)


def test_unterminated_telnet_subnegotiation_does_not_swallow_the_session(room) -> None:
    server, tcp_watch, web_watch, me = room
    sender = server.tcp(nick=me)
    sender.send_raw(b"\xff\xfa\x18" + b"\x01" * 100_000)  # IAC SB TERMINAL-TYPE ... and no IAC SE, ever
    sender.send_raw(b"\r\nstill talking\r\n")
    assert web_watch.expect(type="message", nick=me)["text"] == "still talking"
    still_chatting(server, tcp_watch, web_watch)


def test_a_megabyte_without_newline_is_refused_and_the_connection_lives_on(room) -> None:
    server, tcp_watch, web_watch, me = room
    sender = server.tcp(nick=me)
    sender.send_raw(b"A" * (1 << 20))
    assert sender.read_line() == "! Line too long: not sent (the limit is 8192 bytes)"
    sender.send_raw(b"\r\nshort again\r\n")
    assert tcp_watch.expect(lambda line: line.startswith(f"[{me}]")) == f"[{me}] short again"
    still_chatting(server, tcp_watch, web_watch)


def test_bidi_override_in_a_nick_is_refused_or_removed(room) -> None:
    server, tcp_watch, web_watch, me = room
    sender = server.tcp(nick=me)
    sender.send(f"/nick evil\u202e{me}")  # a typed line is cleaned before it is read as a command
    assert web_watch.expect(type="nick", old=me)["nick"] == f"evil{me}"
    web = server.web(f"web\u2066{me}")  # a nick in the URL is checked as given
    assert web.welcome["nick"].startswith("guest")
    assert web.expect(type="error")["code"] == "nick_refused"
    still_chatting(server, tcp_watch, web_watch)


def test_an_http_request_on_the_tcp_port_gets_a_clear_answer_and_is_not_broadcast(room) -> None:
    server, tcp_watch, web_watch, _ = room
    browser = server.tcp()
    browser.send_raw(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n")
    assert browser.expect(lambda line: line.startswith("!")) == (
        "! This port speaks plain text lines (telnet, netcat), not HTTP: open the chat page on the web port"
    )
    assert browser.read_line() == "! Connection refused (HTTP request on the chat port)"
    assert browser.closed()
    assert tcp_watch.expect(lambda line: line.startswith(f"* {browser.nick} left")) == (
        f"* {browser.nick} left (HTTP request on the chat port)"
    )
    assert not [line for line in tcp_watch.lines if line.startswith(f"[{browser.nick}]")]
    still_chatting(server, tcp_watch, web_watch)


# -- WebSocket -----------------------------------------------------------------------------------

BAD_FRAMES = [
    pytest.param(b"\x00\x01binary", "Binary frames are not supported: send text", id="binary"),
    pytest.param("{not json", 'Malformed JSON: send {"type": "say", "text": "..."}', id="malformed-json"),
    pytest.param(
        '{"type": "hug"}', "Unknown frame type 'hug': the only type a client sends is \"say\"", id="unknown-type"
    ),
    pytest.param(
        '{"type": ["say"]}', "Unknown frame type ['say']: the only type a client sends is \"say\"", id="type-wrong-type"
    ),
    pytest.param('{"type": "say", "text": 5}', 'A "say" frame needs "text" as a string', id="text-wrong-type"),
    pytest.param('{"type": "say"}', 'A "say" frame needs "text" as a string', id="text-missing"),
]


@pytest.mark.parametrize(("frame", "error"), BAD_FRAMES)
def test_a_bad_websocket_frame_gets_a_bad_frame_error_and_nothing_is_broadcast(room, frame, error) -> None:
    server, tcp_watch, web_watch, me = room
    sender = server.web(me)
    sender.send_raw(frame)
    assert sender.expect(type="error") == {"type": "error", "text": error, "code": "bad_frame"}
    sender.say("and then a good one")
    assert sender.expect(type="message")["text"] == "and then a good one"
    assert [line for line in tcp_watch.silent(0.2) if line.startswith(f"[{me}]")] == [f"[{me}] and then a good one"]
    still_chatting(server, tcp_watch, web_watch)


def test_control_characters_sent_over_websocket_are_cleaned(room) -> None:
    server, tcp_watch, web_watch, me = room
    sender = server.web(me)
    sender.say("\x1b[2J\x07ring\x00 \x9b1mthe\u202e bell\x1b]8;;http://evil\x1b\\")
    assert tcp_watch.expect(lambda line: line.startswith(f"[{me}]")) == f"[{me}] ring the bell"
    still_chatting(server, tcp_watch, web_watch)


def test_invalid_utf8_in_a_text_frame_closes_that_connection_only(room) -> None:
    server, tcp_watch, web_watch, me = room
    raw = RawWebSocket(server.port, f"/ws?nick={me}")
    raw.send_frame(b"caf\xc3\x28")
    assert raw.close_frame() == (1007, "invalid UTF-8")
    assert web_watch.expect(type="leave", nick=me)
    still_chatting(server, tcp_watch, web_watch)


def test_a_json_array_is_one_line_of_text_not_a_command(room) -> None:
    server, tcp_watch, web_watch, me = room
    sender = server.web(me)
    sender.send_raw('[{"type": "say", "text": "smuggled"}]')
    assert sender.expect(type="message")["text"] == '[{"type": "say", "text": "smuggled"}]'
    with pytest.raises(ConnectionClosed):
        sender.ws.send("x" * (128 * 1024))  # over the frame limit: the server closes 1009
        sender.silent(1)
    still_chatting(server, tcp_watch, web_watch)

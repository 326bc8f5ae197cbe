"""Large replays on a real server: paced as a slow client reads them (the server never holds the
whole of one for it), complete and in order; and paid for per address, so repeated large
reconnects from one address are refused with a clear code while another address is served."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import httpx
import pytest
from support import DEFAULT_TIMEOUT, KEPT_OPEN, ServerProcess
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from app.bench import wsframes

MESSAGES = 400
TEXT = "r" * 15_000
"""6 MB of history in the default room: more than a socket's buffers hold (4 MB at most here)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server whose default room is full of long messages; an address may replay 1 MB at
    once and then 1 KB a second (so after one large replay it is in debt for the test's duration)."""
    env = {"CHAT_RATE": "0", "CHAT_HISTORY": str(MESSAGES), "CHAT_MAX_MESSAGE": "16000"}
    env |= {"CHAT_REPLAY_BYTES": "1000000", "CHAT_REPLAY_RATE": "1000"}
    server = ServerProcess(tmp_path_factory.mktemp("replay"), env).start()
    seeder = server.web("seeder")
    for n in range(MESSAGES):
        seeder.ws.send(json.dumps({"type": "say", "text": f"{n:05d} {TEXT}"}))
    seeder.expect(lambda e: e.get("self") and e.get("text", "").startswith(f"{MESSAGES - 1:05d}"), timeout=30)
    seeder.close()
    yield server
    server.stop()


def messages_in(payload: bytes) -> list[dict[str, object]]:
    decoded = json.loads(payload)
    return [e for e in (decoded if isinstance(decoded, list) else [decoded]) if e.get("type") == "message"]


def backlog_bytes(server: ServerProcess) -> float:
    """What the server holds for clients that are behind, by its own metrics."""
    text = httpx.get(f"{server.http_url}/metrics", timeout=DEFAULT_TIMEOUT).text
    [line] = [line for line in text.splitlines() if line.startswith("chat_outbox_backlog_bytes ")]
    return float(line.split()[1])


def test_a_large_replay_reaches_a_slow_reader_whole_and_in_order_a_window_at_a_time(server: ServerProcess) -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(DEFAULT_TIMEOUT)
    sock.connect(("127.0.0.1", server.port))
    request, _ = wsframes.handshake("127.0.0.1", server.port, "/ws?nick=slow&since=0")
    sock.sendall(request)
    buffer, head = bytearray(), b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(4096)
    buffer += head.partition(b"\r\n\r\n")[2]
    said: list[dict[str, object]] = []
    read, held, live = 0, [], False
    while not live:
        for opcode, payload in wsframes.parse_frames(buffer):
            assert opcode == wsframes.OP_TEXT
            said += messages_in(payload)
            live = live or b'"code":"live"' in payload
        if not live:
            data = sock.recv(4096)  # a slow link: a small window, one small read at a time
            assert data, "the server closed the connection"
            read += len(data)
            buffer += data
            if read // 500_000 != (read - len(data)) // 500_000 and read < 2_000_000:
                held.append(backlog_bytes(server))
    sock.close()
    assert [int(str(event["text"])[:5]) for event in said] == list(range(MESSAGES)), "every message, in order"
    assert [event["id"] for event in said] == sorted(event["id"] for event in said)  # type: ignore[type-var]
    assert held and max(held) < 300_000, f"the server held {max(held):.0f} bytes for the reader, not the replay"


def replay_from(server: ServerProcess, address: str) -> tuple[int, int | None, list[dict[str, object]]]:
    """Connect as ``address`` asking for everything: the messages replayed, and the close code if
    the server closed the connection instead (with what it said)."""
    said, told = 0, []
    ws = connect(
        f"{server.ws_url}?since=0",
        additional_headers={"X-Forwarded-For": address},
        open_timeout=DEFAULT_TIMEOUT,
        max_size=None,
        **KEPT_OPEN,
    )
    try:
        while True:
            payload = ws.recv(DEFAULT_TIMEOUT)
            decoded = json.loads(payload)
            for event in decoded if isinstance(decoded, list) else [decoded]:
                said += event.get("type") == "message"
                told += [event] if event.get("type") == "error" else []
                if event.get("code") == "live":
                    return said, None, told
    except ConnectionClosed as closed:
        assert closed.rcvd is not None
        return said, closed.rcvd.code, told
    finally:
        ws.close()


def test_repeated_large_replays_from_one_address_are_refused_while_another_is_served(server: ServerProcess) -> None:
    assert replay_from(server, "203.0.113.7") == (MESSAGES, None, []), "a budget not in debt pays for one large replay"
    said, code, told = replay_from(server, "203.0.113.7")
    assert (said, code) == (0, 1013), "the next one must wait: try again later"
    assert [(event["code"], event["text"]) for event in told] == [
        (
            "disconnected",
            "Connection refused: too much history asked for from your address — try again in a minute, nothing is lost",
        )
    ]
    assert replay_from(server, "198.51.100.1") == (MESSAGES, None, []), "another address is served"
    caught_up = server.web("resumer", query="since=1000000000", headers={"X-Forwarded-For": "203.0.113.7"})
    assert caught_up.welcome["nick"] == "resumer", "a resume with nothing missed costs nothing, even in debt"
    caught_up.close()


def history_asked(server: ServerProcess, address: str, command: str) -> tuple[int, list[str]]:
    """Connect as ``address`` (no replay on connecting) and type ``command``: how many characters
    of history it was shown, and the codes of the errors it got, once the reply is complete."""
    user = server.web(f"asker{address.replace('.', '')}", headers={"X-Forwarded-For": address})
    try:
        user.say(command)
        user.say("/me is done")  # its echo comes after the whole reply
        user.expect(type="action", text="is done", timeout=30)
        shown = sum(len(str(e.get("text", ""))) for e in user.events if e.get("type") == "system")
        return shown, [str(e["code"]) for e in user.events if e.get("type") == "error"]
    finally:
        user.close()


def test_history_asked_for_in_the_chat_is_paid_from_the_same_budget(server: ServerProcess) -> None:
    shown, errors = history_asked(server, "203.0.113.8", f"/history {MESSAGES}")
    assert shown > MESSAGES * len(TEXT) // 2 and errors == [], "a budget not in debt pays for one large /history"
    shown, errors = history_asked(server, "203.0.113.8", f"/history {MESSAGES}")
    assert shown < len(TEXT) and errors == ["replay_limit"], "the next one is refused, and says so"
    shown, errors = history_asked(server, "198.51.100.8", f"/history {MESSAGES}")
    assert shown > MESSAGES * len(TEXT) // 2 and errors == [], "another address is served"

"""Random input to a real server, on both gateways: it stays up, every reply is well-formed, and
no control character ever reaches another user.

Each random input is followed by a marker the sender gets back, so the test reads exactly the
replies that input caused, with no sleeping.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from itertools import count

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from support import ServerProcess, TcpUser, WebUser
from websockets.exceptions import ConnectionClosed

KNOWN_TYPES = {"welcome", "message", "action", "private", "join", "leave", "nick", "system", "error", "users", "gap"}
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
MAX_MESSAGE = 500
LONGEST_LINE = MAX_MESSAGE + 100  # the text, plus a nick and the line's decoration
FUZZ = settings(max_examples=60, deadline=None, database=None)

markers = count()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for every example: flood control off (no rate limit, and no cut however much
    input is refused), small limits so random input reaches them."""
    env = {"CHAT_RATE": "0", "CHAT_KICK_AFTER": "1000000", "CHAT_MAX_MESSAGE": str(MAX_MESSAGE)}
    env["CHAT_TCP_MAX_LINE"] = "1024"
    server = ServerProcess(tmp_path_factory.mktemp("fuzz"), env).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def observers(fuzzed: ServerProcess) -> tuple[TcpUser, WebUser]:
    """Bystanders on each gateway: what they receive must always be clean."""
    return fuzzed.tcp(nick="tcpwatch"), fuzzed.web("webwatch")


def check_observers(tcp_watch: TcpUser, web_watch: WebUser, marker: str) -> None:
    """Both observers got the marker, and nothing unsafe before it."""
    tcp_watch.expect(lambda line: line.endswith(marker))
    assert not [seen for seen in tcp_watch.lines if UNSAFE.search(seen) or len(seen) > LONGEST_LINE]
    tcp_watch.lines.clear()
    web_watch.expect(lambda e: e.get("text") == marker)
    texts = [str(e.get(field, "")) for e in web_watch.events for field in ("text", "nick", "old", "to")]
    assert not [text for text in texts if UNSAFE.search(text)]
    web_watch.events.clear()


# -- WebSocket ------------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
say_like = st.fixed_dictionaries(
    {"type": st.sampled_from(["say", "Say", "hello", "", "say "]) | json_values},
    optional={"text": st.text(max_size=600) | json_values, "extra": json_values},
)
frames = st.one_of(
    st.text(max_size=600),  # a bare line, as websocat sends
    st.text(alphabet=st.characters(codec="utf-8"), max_size=200).map(lambda t: "/" + t),  # commands
    say_like.map(json.dumps),
    json_values.map(json.dumps),
    st.binary(max_size=300),
)


@pytest.fixture(scope="module")
def web_sender(fuzzed: ServerProcess) -> dict[str, WebUser]:
    """The fuzzing client, in a dict so that an example may replace it after a /quit."""
    return {"user": fuzzed.web("webfuzz")}


def replies_until(sender: WebUser, marker: str) -> list[object]:
    """Raw decoded frames up to the sender's own marker message."""
    seen: list[object] = []
    while True:
        decoded = json.loads(sender.ws.recv(5))
        seen.append(decoded)
        events = decoded if isinstance(decoded, list) else [decoded]
        if any(isinstance(e, dict) and e.get("text") == marker and e.get("self") for e in events):
            return seen


@FUZZ
@given(frame=frames)
def test_random_websocket_frames(fuzzed, observers, web_sender, frame: str | bytes) -> None:
    marker = f"mark{next(markers)}"
    sender = web_sender["user"]
    try:
        sender.send_raw(frame)
        sender.say(marker)
        replies = replies_until(sender, marker)
    except ConnectionClosed as closed:  # only /quit may end the connection
        assert closed.rcvd is not None and closed.rcvd.code == 1000, closed
        web_sender["user"] = sender = fuzzed.web()
        sender.say(marker)
        replies = replies_until(sender, marker)
    for reply in replies:
        events = reply if isinstance(reply, list) else [reply]
        assert events, reply
        for event in events:
            assert isinstance(event, dict) and event["type"] in KNOWN_TYPES, reply
    check_observers(*observers, marker)


# -- TCP ------------------------------------------------------------------------------------------

RESYNC = b"\xff\xf0\xff\xf0\r\n"
"""Ends any telnet command or subnegotiation the random bytes left open, then the line."""


@pytest.fixture(scope="module")
def tcp_sender(fuzzed: ServerProcess) -> dict[str, TcpUser]:
    """The fuzzing client, in a dict so that an example may replace it after a /quit."""
    return {"user": fuzzed.tcp(nick="tcpfuzz")}


@FUZZ
@given(data=st.binary(max_size=2000) | st.text(max_size=300).map(str.encode))
def test_random_tcp_bytes(fuzzed, observers, tcp_sender, data: bytes) -> None:
    marker = f"mark{next(markers)}"
    sender = tcp_sender["user"]
    sender.lines.clear()
    try:
        sender.send_raw(data + RESYNC + f"/me {marker}\r\n".encode())
        sender.expect(lambda line: line.endswith(marker))
    except EOFError:  # only /quit may end the connection
        assert "* Goodbye!" in sender.lines, sender.lines[-5:]
        tcp_sender["user"] = sender = fuzzed.tcp()
        sender.send(f"/me {marker}")
        sender.expect(lambda line: line.endswith(marker))
    for line in sender.lines:
        assert not UNSAFE.search(line), line
        assert len(line) <= LONGEST_LINE, line
    check_observers(*observers, marker)


def test_the_server_survived_the_fuzzing(fuzzed: ServerProcess, observers) -> None:
    assert fuzzed.health()["status"] == "ok"
    assert "Traceback" not in fuzzed.output()

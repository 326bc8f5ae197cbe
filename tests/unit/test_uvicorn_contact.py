"""The canary: what app/gateways/uvicorn_contact.py relies on in uvicorn beyond its documented
settings, checked against the installed uvicorn with a real server on a free port. A failure
here names what uvicorn changed; adapt that module (and only it)."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from support import free_port

from app.domain.events import Gateway
from app.domain.goodbye import Refusal
from app.gateways.uvicorn_contact import MAX_HEAD, ChatServer, Connections, GuardedHttp, WebSocketDoorFactory
from app.hub.handshakes import Ending, Handshake, HandshakeLimits, Handshakes

CHANGED = "uvicorn changed: adapt app/gateways/uvicorn_contact.py — "


@dataclass
class Seen:
    """What uvicorn did with our WebSocket protocol and our server hooks, in order."""

    steps: list[str] = field(default_factory=list)
    connections: Connections | None = None
    head: bytes = b""


class Probe(asyncio.Protocol):
    """A WebSocket protocol that only records what uvicorn does with it."""

    def __init__(self, seen: Seen, connections: Connections) -> None:
        self.seen = seen
        self.connections = connections
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.seen.steps.append("connection_made")
        self.transport = transport
        self.connections.add(self)

    def data_received(self, data: bytes) -> None:
        self.seen.steps.append("data_received")
        self.seen.head += data

    def shutdown(self) -> None:
        self.seen.steps.append("connection shutdown")
        assert self.transport is not None
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.connections.discard(self)


async def empty_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise AssertionError("the WebSocket must reach our protocol, not the ASGI app")


async def exercise(http: str) -> Seen:
    seen = Seen()

    def build(connections: Connections) -> Probe:
        seen.connections = connections
        return Probe(seen, connections)

    async def start() -> None:
        seen.steps.append("chat start")

    port = free_port()
    config = uvicorn.Config(empty_app, host="127.0.0.1", port=port, http=http, lifespan="off", log_level="warning")
    config.ws = WebSocketDoorFactory(build)  # type: ignore[assignment]
    server = ChatServer(config, start=start, goodbye=lambda: seen.steps.append("goodbye"))
    serving = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    assert server.started, "uvicorn did not start"
    _reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        b"GET /ws?nick=ann HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await writer.drain()
    for _ in range(200):
        if seen.head.endswith(b"\r\n\r\n"):
            break
        await asyncio.sleep(0.02)
    server.should_exit = True
    await asyncio.wait_for(serving, 10)
    writer.close()
    return seen


@pytest.mark.parametrize("http", ["h11", "httptools"])
def test_uvicorn_hands_upgrades_to_our_protocol_and_shuts_it_down_after_our_goodbye(http: str) -> None:
    seen = asyncio.run(exercise(http))
    assert seen.connections is not None, CHANGED + "the ws setting is no longer called with server_state="
    assert isinstance(seen.connections, set), CHANGED + "server_state.connections is no longer a set"
    assert seen.steps[:2] == ["chat start", "connection_made"], CHANGED + f"steps seen: {seen.steps}"
    assert seen.head.startswith(b"GET /ws?nick=ann HTTP/1.1\r\n") and seen.head.endswith(b"\r\n\r\n"), (
        CHANGED + f"the protocol no longer gets the request's head whole: {seen.head!r}"
    )
    assert b"dGhlIHNhbXBsZSBub25jZQ==\r\n" in seen.head, CHANGED + "request headers lost"
    assert seen.steps[-2:] == ["goodbye", "connection shutdown"], (
        CHANGED + f"shutdown no longer calls shutdown() on server_state.connections after Server.shutdown: {seen.steps}"
    )
    assert not seen.connections, CHANGED + "a closed connection stayed in server_state.connections"


def test_the_fast_mask_websockets_uses_agrees_with_its_documented_one() -> None:
    """wsparse takes websockets' C mask function when it is there (an undocumented module)."""
    from websockets.utils import apply_mask as documented

    from app.codecs.wsparse import apply_mask

    data, mask = bytes(range(256)) * 3, b"\x01\x02\x03\x04"
    assert apply_mask(data, mask) == documented(data, mask)


# -- the HTTP guard on uvicorn's own protocol ---------------------------------------------------


class Admission:
    """Stands for the hub: a pool of unfinished handshakes, three at most."""

    def __init__(self, limits: HandshakeLimits) -> None:
        self.limits = limits
        self.pool: Handshakes | None = None

    def handshake_started(
        self, door: Gateway, peer: str, finish: float, cut: Callable[[Ending], None]
    ) -> Handshake | Refusal:
        if self.pool is None:
            self.pool = Handshakes(self.limits, asyncio.get_running_loop().call_later)
        return self.pool.start(door, peer, finish, cut)


async def hello(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


async def request(port: int, head: bytes, pause: float = 0.0) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head[:10])
    await asyncio.sleep(pause)
    writer.write(head[10:])
    answer = await asyncio.wait_for(reader.read(4096), 5)
    writer.close()
    return answer


async def exercise_guard() -> dict[str, Any]:
    admission = Admission(HandshakeLimits(total=3, start=0.3))
    port = free_port()
    guard = functools.partial(GuardedHttp, requests=admission, head_timeout=0.5, start_timeout=0.3)
    config = uvicorn.Config(hello, host="127.0.0.1", port=port, http=guard, lifespan="off", log_level="critical")  # type: ignore[arg-type]
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    seen: dict[str, Any] = {}
    get = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
    seen["quick"] = await request(port, get)
    seen["split"] = await request(port, get, pause=0.1)  # a head in two reads, well within the deadline
    seen["slow"] = await request(port, b"GET / HTTP/1.1\r\nHost: x\r\n")  # never finished
    seen["huge"] = await request(port, b"GET / HTTP/1.1\r\nX: " + b"a" * (MAX_HEAD + 10))
    silent, _ = await asyncio.open_connection("127.0.0.1", port)
    seen["silent"] = await asyncio.wait_for(silent.read(4096), 5)
    kept, writer = await asyncio.open_connection("127.0.0.1", port)
    answers = []
    for _ in range(2):  # two requests on one kept-alive connection
        writer.write(get)
        answers.append(await asyncio.wait_for(kept.read(4096), 5))
    await asyncio.sleep(0.05)
    assert admission.pool is not None
    seen["kept alive"], seen["kept alive, waiting"] = answers, len(admission.pool)
    seen["kept alive, idle"] = await asyncio.wait_for(kept.read(4096), 5)
    writer.close()
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    for _, writer in held:
        writer.write(b"GET")  # under way, never finished
    await asyncio.sleep(0.05)
    seen["over the cap"] = await request(port, get)
    seen["crowded out"] = await asyncio.wait_for(held[0][0].read(4096), 5)
    for _, writer in held:
        writer.close()
    await asyncio.sleep(0.1)
    assert admission.pool is not None
    seen["unfinished after"] = len(admission.pool)
    server.should_exit = True
    await asyncio.wait_for(serving, 10)
    return seen


def test_heads_are_bounded_in_time_and_size_and_counted_until_they_arrive() -> None:
    seen = asyncio.run(exercise_guard())
    assert seen["quick"].startswith(b"HTTP/1.1 200 "), CHANGED + f"a plain request failed: {seen['quick']!r}"
    assert seen["split"].startswith(b"HTTP/1.1 200 "), seen["split"]
    assert seen["slow"].startswith(b"HTTP/1.1 408 Request Timeout"), seen["slow"]
    assert seen["huge"].startswith(b"HTTP/1.1 431 Request Header Fields Too Large"), seen["huge"]
    assert seen["silent"].startswith(b"HTTP/1.1 408 Request Timeout"), seen["silent"]
    assert b"No request started within 0.3 s" in seen["silent"]
    assert seen["over the cap"].startswith(b"HTTP/1.1 200 "), seen["over the cap"]  # the newcomer gets in
    assert seen["crowded out"].startswith(b"HTTP/1.1 503 Service Unavailable"), seen["crowded out"]  # the oldest goes
    assert seen["unfinished after"] == 0, CHANGED + "connection_lost no longer reaches the HTTP protocol"
    assert all(answer.startswith(b"HTTP/1.1 200 ") for answer in seen["kept alive"]), seen["kept alive"]
    assert seen["kept alive, waiting"] == 1, CHANGED + "on_response_complete or cycle.response_complete changed"
    assert seen["kept alive, idle"] == b"", "an idle kept-alive connection is closed at the start deadline, quietly"

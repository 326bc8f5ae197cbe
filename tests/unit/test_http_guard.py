"""The HTTP guard on uvicorn's own protocol, with a real uvicorn on a free port: it relies on how
uvicorn builds and drives its HTTP protocol (the ``http`` setting called with keyword arguments,
``transport`` set in ``connection_made``), so a failure here may name what uvicorn changed."""

from __future__ import annotations

import asyncio
import functools
from collections import Counter
from typing import Any

import uvicorn
from support import free_port

from app.domain.goodbye import Goodbye, Refusal
from app.gateways.http_guard import MAX_HEAD, GuardedHttp

CHANGED = "uvicorn changed: adapt the HTTP guard — "


class Admission:
    """Stands for the hub: counts unfinished requests per address, refuses beyond ``limit``."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.unfinished: Counter[str] = Counter()
        self.started = 0

    def request_started(self, address: str) -> Refusal | None:
        if self.unfinished.total() >= self.limit:
            return Refusal(Goodbye.ADDRESS_LIMIT, f"limit {self.limit}")
        self.unfinished[address] += 1
        self.started += 1
        return None

    def request_ended(self, address: str) -> None:
        self.unfinished[address] -= 1


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


async def exercise() -> dict[str, Any]:
    admission = Admission(limit=3)
    port = free_port()
    guard = functools.partial(GuardedHttp, hub=admission, head_timeout=0.5)
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
    held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(3)]
    await asyncio.sleep(0.1)
    seen["over the cap"] = await request(port, get)
    for _, writer in held:
        writer.close()
    await asyncio.sleep(0.1)
    seen["unfinished after"] = admission.unfinished.total()
    server.should_exit = True
    await asyncio.wait_for(serving, 10)
    return seen


def test_heads_are_bounded_in_time_and_size_and_counted_until_they_arrive() -> None:
    seen = asyncio.run(exercise())
    assert seen["quick"].startswith(b"HTTP/1.1 200 "), CHANGED + f"a plain request failed: {seen['quick']!r}"
    assert seen["split"].startswith(b"HTTP/1.1 200 "), seen["split"]
    assert seen["slow"].startswith(b"HTTP/1.1 408 Request Timeout"), seen["slow"]
    assert seen["huge"].startswith(b"HTTP/1.1 431 Request Header Fields Too Large"), seen["huge"]
    assert seen["over the cap"].startswith(b"HTTP/1.1 503 Service Unavailable"), seen["over the cap"]
    assert b"too many connections from your address" in seen["over the cap"]
    assert seen["unfinished after"] == 0, CHANGED + "connection_lost no longer reaches the HTTP protocol"

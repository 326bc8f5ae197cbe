"""A burst never costs an honest reader: with flood control off, one sender pastes 6,000 lines of
~1.9 KB as fast as its socket takes them; two TCP and two WebSocket readers (ordinary asyncio
clients, the `websockets` one with its default message limit) get every line, in order, in
messages no larger than 64 KiB, while a TCP and a WebSocket client that never read are dropped
within seconds."""

from __future__ import annotations

import asyncio
import json
import re
import time

from raw import RawWebSocket, cut_by_peer, rss_kib
from support import ServerProcess, TcpUser
from websockets.asyncio.client import connect

from app.gateways.closing import CLOSE_TIMEOUT

LINES = 6000
PADDING = "x" * 1900
MAX_FRAME = 64 * 1024
DROP_WITHIN = 10.0
STALLED = ("stalledtcp", "stalledweb")


class Burst:
    """What the readers saw, with times relative to the start of the burst."""

    def __init__(self) -> None:
        self.start = 0.0
        self.numbers: dict[str, list[int]] = {}
        self.largest_frame = 0
        self.left: dict[str, float] = {}  # nick -> seconds after the start when a reader saw it leave

    def saw_leave(self, nick: str) -> None:
        self.left.setdefault(nick, time.monotonic() - self.start)


async def tcp_reader(port: int, name: str, burst: Burst, ready: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    numbers = burst.numbers.setdefault(name, [])
    said = re.compile(rb"\[publisher\] m(\d+) ")
    left = re.compile(rb"\* (\w+) left")
    await reader.readline()  # the welcome
    ready.set()
    while len(numbers) < LINES:
        line = await reader.readline()
        if not line:
            raise EOFError(f"{name} was disconnected after {len(numbers)} lines")
        if found := said.match(line):
            numbers.append(int(found[1]))
        elif found := left.match(line):
            burst.saw_leave(found[1].decode())
    writer.close()


async def web_reader(port: int, name: str, burst: Burst, ready: asyncio.Event) -> None:
    numbers = burst.numbers.setdefault(name, [])
    async with connect(f"ws://127.0.0.1:{port}/ws?nick={name}") as ws:  # default max_size: 1 MiB
        ready.set()
        while len(numbers) < LINES:
            frame = await ws.recv()
            burst.largest_frame = max(burst.largest_frame, len(frame.encode()))
            decoded = json.loads(frame)
            for event in decoded if isinstance(decoded, list) else [decoded]:
                if event["type"] == "message" and event["nick"] == "publisher":
                    numbers.append(int(event["text"].split()[0][1:]))
                elif event["type"] == "leave":
                    burst.saw_leave(event["nick"])


async def publish(port: int, burst: Burst) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await reader.readline()
    writer.write(b"/nick publisher\r\n")
    while b"now known as publisher" not in await reader.readline():
        pass
    burst.start = time.monotonic()
    for start in range(0, LINES, 500):
        writer.write(b"".join(f"m{n} {PADDING}\r\n".encode() for n in range(start, start + 500)))
        await writer.drain()
    await asyncio.sleep(DROP_WITHIN)  # stay in the room while the readers finish
    writer.close()


async def run_burst(server: ServerProcess) -> Burst:
    burst = Burst()
    readers = []
    for name, reader in (("tcp1", tcp_reader), ("tcp2", tcp_reader), ("web1", web_reader), ("web2", web_reader)):
        ready = asyncio.Event()
        port = server.tcp_port if reader is tcp_reader else server.port
        readers.append(asyncio.create_task(reader(port, name, burst, ready)))
        await asyncio.wait_for(ready.wait(), 10)
    publisher = asyncio.create_task(publish(server.tcp_port, burst))
    await asyncio.wait_for(asyncio.gather(*readers), 60)
    while len(burst.left) < len(STALLED) and time.monotonic() - burst.start < DROP_WITHIN + 5:
        await asyncio.sleep(0.1)  # the readers are done; the leaves, if not seen yet, come to the log
    publisher.cancel()
    return burst


def test_a_burst_reaches_every_reader_whole_in_bounded_frames_and_stalled_readers_are_dropped(
    start_server, record_property
) -> None:
    server: ServerProcess = start_server(CHAT_RATE="0")
    stalled_tcp = TcpUser(server.tcp_port, nick="stalledtcp", rcvbuf=4096)
    stalled_web = RawWebSocket(server.port, "/ws?nick=stalledweb", rcvbuf=4096)
    assert stalled_web.status == 101
    rss_before = rss_kib(server.pid)

    burst = asyncio.run(run_burst(server))

    for name, numbers in burst.numbers.items():
        assert numbers == list(range(LINES)), f"{name} missed or reordered lines"
    assert 0 < burst.largest_frame <= MAX_FRAME
    assert set(burst.left) == set(STALLED), burst.left
    assert all(seconds < DROP_WITHIN for seconds in burst.left.values()), burst.left
    assert cut_by_peer(stalled_tcp.sock, CLOSE_TIMEOUT + 2)
    assert cut_by_peer(stalled_web.sock, CLOSE_TIMEOUT + 2)
    cut_after = time.monotonic() - burst.start
    assert server.health()["clients"]["total"] == 0
    rss_after = rss_kib(server.pid)
    for name, value in {
        "rss_before_kib": rss_before,
        "rss_after_kib": rss_after,
        "largest_frame_bytes": burst.largest_frame,
        **{f"{nick}_dropped_after_s": round(seconds, 2) for nick, seconds in burst.left.items()},
        "stalled_cut_after_s": round(cut_after, 2),
    }.items():
        record_property(name, value)
        print(f"{name}: {value}")
    assert "Traceback" not in server.output()

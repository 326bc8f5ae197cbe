"""Many real clients at once, on both gateways, from one asyncio loop.

Used by the restart test, and on its own to measure how long a SIGTERM takes with a full room:

    /work/venv/bin/python tests/crowd.py --tcp 500 --ws 500

Each client reads continuously (as a live user's terminal or page would) and keeps what it
saw last: the last line for TCP clients, the close code and reason for WebSocket clients.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

CONNECT_CONCURRENCY = 50


@dataclass
class Member:
    """One client: ``ready`` once welcomed; what it saw last once the server has closed it."""

    ready: asyncio.Event = field(default_factory=asyncio.Event)
    last_line: str = ""
    close: tuple[int, str] | None = None


class Crowd:
    """``tcp`` telnet-like clients and ``ws`` WebSocket clients connected to one server."""

    def __init__(self, tcp_port: int, ws_url: str) -> None:
        self.tcp_port = tcp_port
        self.ws_url = ws_url
        self.tcp: list[Member] = []
        self.ws: list[Member] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._gate = asyncio.Semaphore(CONNECT_CONCURRENCY)

    async def join(self, tcp: int, ws: int, timeout: float = 60.0) -> None:
        """Connect everyone and wait until each has its welcome."""
        for members, run, count in ((self.tcp, self._tcp, tcp), (self.ws, self._ws, ws)):
            for _ in range(count):
                member = Member()
                members.append(member)
                self._tasks.append(asyncio.create_task(run(member)))
        async with asyncio.timeout(timeout):
            await asyncio.gather(*(m.ready.wait() for m in self.tcp + self.ws))

    async def farewells(self, timeout: float = 30.0) -> None:
        """Wait until the server has closed every connection."""
        async with asyncio.timeout(timeout):
            await asyncio.gather(*self._tasks)

    async def _tcp(self, member: Member) -> None:
        try:
            async with self._gate:
                reader, writer = await asyncio.open_connection("127.0.0.1", self.tcp_port, limit=1 << 20)
            while line := await reader.readline():
                text = line.decode().rstrip("\r\n")
                if text:
                    member.last_line = text
                if text.startswith("* You are "):
                    member.ready.set()
            writer.close()
        finally:
            member.ready.set()

    async def _ws(self, member: Member) -> None:
        try:
            async with self._gate:
                ws = await connect(self.ws_url, open_timeout=30, ping_interval=None, close_timeout=5)
            member.ready.set()
            try:
                async for _ in ws:
                    pass
            except ConnectionClosed:
                pass
            if ws.close_code is not None:
                member.close = (ws.close_code, ws.close_reason or "")
        finally:
            member.ready.set()


async def measure_restart(tcp: int, ws: int) -> None:
    """Start a server, fill it, send SIGTERM and report how long it took to exit."""
    sys.path.insert(0, str(Path(__file__).parent))
    from support import ServerProcess

    server = ServerProcess(Path(tempfile.mkdtemp()), {"CHAT_RATE": "0"}).start()
    try:
        crowd = Crowd(server.tcp_port, server.ws_url)
        started = time.monotonic()
        await crowd.join(tcp, ws)
        print(f"{tcp} TCP + {ws} WebSocket clients connected in {time.monotonic() - started:.1f} s")
        print(f"health: {server.health()['clients']}")
        sent = time.monotonic()
        server.signal(signal.SIGTERM)
        code = await asyncio.to_thread(server.wait, 60)
        exited = time.monotonic() - sent
        await crowd.farewells()
        told = sum("Disconnected: server restarting" in m.last_line for m in crowd.tcp)
        closed = sum(m.close == (1012, "server restarting") for m in crowd.ws)
        print(f"SIGTERM to exit: {exited:.2f} s (exit code {code})")
        print(f"TCP clients told 'server restarting': {told}/{tcp}; WebSocket clients closed 1012: {closed}/{ws}")
        print(f"tracebacks in the server log: {server.output().count('Traceback')}")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tcp", type=int, default=500)
    parser.add_argument("--ws", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(measure_restart(args.tcp, args.ws))


if __name__ == "__main__":
    main()

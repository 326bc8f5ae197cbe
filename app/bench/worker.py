"""One benchmark process: connects its share of clients, publishes its share of messages, and
reports to the coordinator over a pipe.

Messages to the coordinator: ("connected", ok, failed) while connecting, ("ready", tcp, ws,
failed, seconds), ("progress", sent, received) and ("published", sent) while running, and
("result", WorkerResult) at the end.
From the coordinator: ("start", t0_ns) and ("stop",).
"""

from __future__ import annotations

import asyncio
import resource
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection

from app.bench import markers, plan
from app.bench.clients import BenchClient, TcpBenchClient, WsBenchClient
from app.bench.stats import Tally

PROGRESS_EVERY = 0.25


@dataclass(slots=True)
class WorkerResult:
    ready_tcp: int = 0
    ready_ws: int = 0
    failed: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    sent: int = 0
    lag_max_ms: float = 0.0
    disconnects: int = 0
    tally: Tally = field(default_factory=Tally)


def run(work: plan.WorkerPlan, pipe: Connection) -> None:
    """Process entry point."""
    _raise_fd_limit()
    try:
        import uvloop
    except ImportError:
        asyncio.run(Worker(work, pipe).main())
    else:
        uvloop.run(Worker(work, pipe).main())


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Worker:
    def __init__(self, work: plan.WorkerPlan, pipe: Connection) -> None:
        self.work = work
        self.options = work.options
        self.pipe = pipe
        self.result = WorkerResult()
        self.clients: dict[int, BenchClient] = {}
        self.commands: asyncio.Queue[tuple] = asyncio.Queue()  # type: ignore[type-arg]

    async def main(self) -> None:
        asyncio.get_running_loop().add_reader(self.pipe.fileno(), self.read_command)
        started = time.monotonic()
        await self.connect_all()
        self.pipe.send(
            ("ready", self.result.ready_tcp, self.result.ready_ws, self.result.failed, time.monotonic() - started)
        )
        command = await self.commands.get()
        if command[0] == "start":
            publishing = asyncio.ensure_future(self.publish(command[1]))
            reporter = asyncio.ensure_future(self.report_progress())
            while (await self.commands.get())[0] != "stop":
                pass
            publishing.cancel()
            reporter.cancel()
        self.result.disconnects = sum(c.lost for c in self.clients.values())
        for client in self.clients.values():
            if client.transport is not None:
                client.transport.abort()
        self.pipe.send(("result", self.result))

    def read_command(self) -> None:
        try:
            self.commands.put_nowait(self.pipe.recv())
        except EOFError:  # the coordinator is gone: stop rather than spin on a dead pipe
            asyncio.get_running_loop().remove_reader(self.pipe.fileno())
            self.commands.put_nowait(("stop",))

    async def connect_all(self) -> None:
        """Open every client at the plan's rate; each must get its welcome within the timeout."""
        o = self.options
        ids = [*self.work.tcp_ids, *self.work.ws_ids]
        deadline = time.monotonic() + o.connect_timeout
        interval = 1 / self.work.connect_rate if self.work.connect_rate > 0 else 0.0
        start = time.monotonic()
        pending = []
        for n, client_id in enumerate(ids):
            delay = start + n * interval - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
                self.pipe.send(("connected", self.result.ready_tcp + self.result.ready_ws, self.result.failed))
            pending.append(asyncio.ensure_future(self.connect(client_id, deadline)))
        await asyncio.gather(*pending)

    async def connect(self, client_id: int, deadline: float) -> None:
        o, loop = self.options, asyncio.get_running_loop()
        publisher = self.work.publishers.get(client_id)
        tally = self.result.tally
        is_tcp = client_id < o.tcp
        port = o.port_of(client_id)
        room = o.room_of(client_id)
        if is_tcp:
            factory = lambda: TcpBenchClient(tally, publisher, room)  # noqa: E731
        else:
            path = o.ws_path + ("&" if "?" in o.ws_path else "?") + f"nick=bench{client_id}"
            path += f"&rooms={room}" if room else ""
            factory = lambda: WsBenchClient(tally, o.target, port, path, publisher)  # noqa: E731
        try:
            async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                _, client = await loop.create_connection(factory, o.target, port)
                await client.ready
        except Exception as problem:  # refused, reset, timed out, bad handshake: all count as failed
            name = type(problem).__name__
            self.result.errors[name] = self.result.errors.get(name, 0) + 1
            self.result.failed += 1
            return
        self.clients[client_id] = client
        if is_tcp:
            self.result.ready_tcp += 1
        else:
            self.result.ready_ws += 1

    async def publish(self, t0_ns: int) -> None:
        """Send each of this process's publishers' messages at its scheduled time."""
        timeline = sorted(
            (at, number, seq, client_id)
            for client_id, number in self.work.publishers.items()
            for seq, at in enumerate(plan.schedule(number, self.options))
        )
        result = self.result
        for at, number, seq, client_id in timeline:
            client = self.clients.get(client_id)
            if client is None:  # never connected: its messages are not sent and not expected
                continue
            delay = at - (time.monotonic_ns() - t0_ns) / 1e9
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                result.lag_max_ms = max(result.lag_max_ms, -delay * 1000)
            if not client.lost:
                client.publish(markers.marker(number, seq, time.monotonic_ns()))
                result.sent += 1
        self.pipe.send(("published", result.sent))

    async def report_progress(self) -> None:
        while True:
            self.pipe.send(("progress", self.result.sent, self.result.tally.received))
            await asyncio.sleep(PROGRESS_EVERY)

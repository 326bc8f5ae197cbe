"""The coordinator: starts the worker processes, keeps them in step, shows progress, and
merges what they measured into one report."""

from __future__ import annotations

import contextlib
import multiprocessing
import sys
import time
from multiprocessing.connection import Connection, wait

from app.bench import plan, report, server, worker
from app.bench.report import Report

TICK = 0.25
SPAWN_TIMEOUT = 30.0
START_DELAY = 0.2


class Progress:
    """One status line on stderr: rewritten in place on a terminal, once a second otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.tty = sys.stderr.isatty()
        self.last = 0.0

    def show(self, text: str) -> None:
        now = time.monotonic()
        if not self.enabled or (not self.tty and now - self.last < 1.0):
            return
        self.last = now
        sys.stderr.write(f"\r{text:<78}" if self.tty else text + "\n")
        sys.stderr.flush()

    def done(self) -> None:
        if self.enabled and self.tty:
            sys.stderr.write("\n")


class Coordinator:
    def __init__(self, options: plan.Options) -> None:
        self.options = options
        self.progress = Progress(options.progress)
        self.pipes: list[Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.connected: dict[int, tuple[int, int]] = {}
        self.ready: dict[int, tuple[int, int, int, float]] = {}
        self.sent: dict[int, int] = {}
        self.received: dict[int, int] = {}
        self.published: set[int] = set()
        self.results: dict[int, worker.WorkerResult] = {}

    def run(self) -> Report:
        o = self.options
        before = server.sample(o.server_pid)
        self.spawn()
        try:
            started = time.monotonic()
            self.until(lambda: len(self.ready) == o.procs, o.connect_timeout + SPAWN_TIMEOUT, self.show_connecting)
            connect_s = time.monotonic() - started
            connected = server.sample(o.server_pid)
            t0 = time.monotonic_ns() + int((o.duration if o.idle else o.settle) * 1e9 + START_DELAY * 1e9)
            if not sum(self.ready_totals()[:2]):
                self.broadcast(("stop",))
            elif o.idle:
                self.until(lambda: time.monotonic_ns() >= t0, o.duration + 1, self.show_holding(t0))
                self.broadcast(("stop",))
            else:
                self.until(lambda: time.monotonic_ns() >= t0, o.settle + 1, lambda: self.progress.show("settling"))
                self.broadcast(("start", t0))
                self.until(lambda: len(self.published) == o.procs, o.duration + o.drain + 5, self.show_running)
                self.until(lambda: self.total_received() >= self.expected(), o.drain, self.show_running)
                self.broadcast(("stop",))
            self.until(lambda: len(self.results) == o.procs, 30, lambda: None)
            end = server.sample(o.server_pid)
        finally:
            self.progress.done()
            self.reap()
        return report.build(
            o, self.ready_totals(), connect_s, list(self.results.values()), t0, (before, connected, end)
        )

    # -- processes ---------------------------------------------------------------------------

    def spawn(self) -> None:
        context = multiprocessing.get_context("spawn")
        for work in plan.split(self.options):
            here, there = context.Pipe()
            process = context.Process(target=worker.run, args=(work, there), daemon=True)
            process.start()
            there.close()
            self.pipes.append(here)
            self.processes.append(process)

    def broadcast(self, message: tuple) -> None:  # type: ignore[type-arg]
        for pipe in self.pipes:
            pipe.send(message)

    def reap(self) -> None:
        """Wait for the workers; ask them to stop first if the run ended early (an error, Ctrl-C)."""
        if len(self.results) < len(self.processes):
            for pipe in self.pipes:
                with contextlib.suppress(OSError):
                    pipe.send(("stop",))
        for process in self.processes:
            process.join(5)
            if process.is_alive():
                process.kill()
                process.join(5)

    def until(self, condition, limit: float, show) -> None:  # type: ignore[no-untyped-def]
        """Handle worker messages until ``condition()`` holds or ``limit`` seconds have passed."""
        deadline = time.monotonic() + limit
        while not condition() and time.monotonic() < deadline:
            for pipe in wait(self.pipes, timeout=min(TICK, max(0.0, deadline - time.monotonic()))):
                self.handle(self.pipes.index(pipe), pipe)  # type: ignore[arg-type]
            if any(not p.is_alive() and p.exitcode for p in self.processes):
                raise RuntimeError("a benchmark process died; see its traceback above")
            show()

    def handle(self, index: int, pipe: Connection) -> None:
        try:
            kind, *data = pipe.recv()
        except EOFError:
            return
        if kind == "connected":
            self.connected[index] = (data[0], data[1])
        elif kind == "ready":
            self.ready[index] = (data[0], data[1], data[2], data[3])
        elif kind == "progress":
            self.sent[index], self.received[index] = data[0], data[1]
        elif kind == "published":
            self.sent[index] = data[0]
            self.published.add(index)
        elif kind == "result":
            self.results[index] = data[0]

    # -- totals and progress ---------------------------------------------------------------

    def ready_totals(self) -> tuple[int, int, int]:
        return tuple(sum(r[i] for r in self.ready.values()) for i in range(3))  # type: ignore[return-value]

    def total_received(self) -> int:
        return sum(self.received.values())

    def expected(self) -> int:
        tcp, ws, _ = self.ready_totals()
        readers = self.options.audience if self.options.rooms else tcp + ws - 1
        return sum(self.sent.values()) * max(0, readers)

    def show_connecting(self) -> None:
        ok = sum(c[0] for c in self.connected.values())
        failed = sum(c[1] for c in self.connected.values())
        self.progress.show(f"connecting {ok}/{self.options.clients}, failed {failed}")

    def show_holding(self, t0: int):  # type: ignore[no-untyped-def]
        def show() -> None:
            tcp, ws, failed = self.ready_totals()
            left = max(0.0, (t0 - time.monotonic_ns()) / 1e9)
            self.progress.show(f"holding {tcp} tcp + {ws} ws (failed {failed}), {left:.0f} s left")

        return show

    def show_running(self) -> None:
        self.progress.show(f"sent {sum(self.sent.values())}, deliveries {self.total_received()}/{self.expected()}")

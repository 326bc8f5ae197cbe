"""``python -m app.bench.attack NAME --port P --tcp-port T --server-pid PID``: one attack against
a running server while honest users chat, and what it cost them and the server.

The attacker runs in a process of its own for ``--duration`` seconds (then stops, whatever
happened). Meanwhile honest pairs (a telnet user and a web user each) publish marked messages
to one another, and the report gives their latency and loss, the server's CPU and memory
(read from /proc: same machine only), and how long a newcomer took to connect mid-attack.
Loopback only: this tool attacks, so it has no option to aim elsewhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import time
from collections.abc import Sequence
from dataclasses import asdict

from app.bench import markers, server
from app.bench.attacks import ATTACKS, Outcome, Target
from app.bench.clients import BenchClient, TcpBenchClient, WsBenchClient
from app.bench.stats import Tally

HOST = "127.0.0.1"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m app.bench.attack", description=__doc__.split("\n\n")[0])
    p.add_argument("attack", choices=sorted(ATTACKS))
    p.add_argument("--port", type=int, default=8000, help="HTTP/WebSocket port (default 8000)")
    p.add_argument("--tcp-port", type=int, default=2626, help="TCP gateway port (default 2626)")
    p.add_argument("--server-pid", type=int, default=None, help="server pid, for its CPU and memory")
    p.add_argument("--duration", type=float, default=10.0, help="seconds of attack (default 10)")
    p.add_argument("--scale", type=int, default=0, help="the attack's size (bytes, frames, connections; 0: default)")
    p.add_argument("--pairs", type=int, default=2, help="honest pairs, one telnet and one web user each")
    p.add_argument("--rate", type=float, default=1.5, help="messages per second per honest user (under the limit)")
    return p


def _attack(name: str, target: Target, results: multiprocessing.SimpleQueue) -> None:  # type: ignore[type-arg]
    try:
        outcome = ATTACKS[name](target)
    except OSError as problem:
        outcome = Outcome(detail={"error": f"{type(problem).__name__}: {problem}"})
    results.put(asdict(outcome))


async def _honest(options: argparse.Namespace, tally: Tally) -> list[BenchClient]:
    loop = asyncio.get_running_loop()
    clients: list[BenchClient] = []
    for n in range(2 * options.pairs):
        if n % 2:
            path = f"/ws?nick=honest{n}"
            factory = lambda n=n, path=path: WsBenchClient(tally, HOST, options.port, path, n)  # noqa: E731
            _, client = await loop.create_connection(factory, HOST, options.port)
        else:
            _, client = await loop.create_connection(lambda n=n: TcpBenchClient(tally, n), HOST, options.tcp_port)
        await asyncio.wait_for(client.ready, 10)
        clients.append(client)
    return clients


async def _newcomer_ms(options: argparse.Namespace) -> dict[str, float | None]:
    """How long a new telnet and a new web user take to get their welcome (None: they did not)."""
    loop, timings = asyncio.get_running_loop(), {}
    for name, port, factory in (
        ("tcp", options.tcp_port, lambda: TcpBenchClient(Tally())),
        ("ws", options.port, lambda: WsBenchClient(Tally(), HOST, options.port, "/ws")),
    ):
        started = time.monotonic()
        try:
            async with asyncio.timeout(5):
                transport, client = await loop.create_connection(factory, HOST, port)
                await client.ready
            timings[name] = round((time.monotonic() - started) * 1000, 1)
            transport.close()
        except (OSError, TimeoutError, ConnectionError):
            timings[name] = None
    return timings


async def _publish(clients: list[BenchClient], rate: float, duration: float) -> int:
    sent, seq, started = 0, 0, time.monotonic()
    interval = 1 / rate
    while time.monotonic() - started < duration:
        for n, client in enumerate(clients):
            if not client.lost:
                client.publish(markers.marker(n, seq, time.monotonic_ns()))
                sent += 1
        seq += 1
        await asyncio.sleep(interval)
    return sent


async def _watch(pid: int | None, duration: float, peak: list[int]) -> None:
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        now = server.sample(pid)
        if now is not None:
            peak[0] = max(peak[0], now.rss_kib)
        await asyncio.sleep(0.1)


async def run(options: argparse.Namespace) -> dict[str, object]:
    tally = Tally()
    clients = await _honest(options, tally)
    before = server.sample(options.server_pid)
    results: multiprocessing.SimpleQueue = multiprocessing.get_context("fork").SimpleQueue()  # type: ignore[type-arg]
    target = Target(HOST, options.port, options.tcp_port, time.monotonic() + options.duration, options.scale)
    attacker = multiprocessing.get_context("fork").Process(target=_attack, args=(options.attack, target, results))
    attacker.start()
    peak = [before.rss_kib if before else 0]
    watching = asyncio.ensure_future(_watch(options.server_pid, options.duration, peak))
    publishing = asyncio.ensure_future(_publish(clients, options.rate, options.duration))
    await asyncio.sleep(options.duration / 2)
    newcomer = await _newcomer_ms(options)
    sent = await publishing
    await watching
    during = server.sample(options.server_pid)
    await asyncio.sleep(2)  # late deliveries still count (as latency)
    attacker.join(10)
    outcome = results.get() if not results.empty() else {"detail": {"error": "the attacker did not report"}}
    after = server.sample(options.server_pid)
    for client in clients:
        if client.transport is not None:
            client.transport.close()
    expected = sent * (len(clients) - 1)
    latency = tally.latency_us
    report: dict[str, object] = {
        "attack": options.attack,
        "duration_s": options.duration,
        "attacker": outcome,
        "honest": {
            "sent": sent,
            "expected": expected,
            "received": tally.received,
            "lost": expected - tally.received,
            "latency_ms": {p: latency.percentile(q) / 1000 for p, q in (("p50", 50), ("p99", 99), ("max", 100))},
            "cut": sum(client.lost for client in clients),
        },
        "newcomer_ms": newcomer,
    }
    if before is not None and during is not None and after is not None:
        report["server"] = {
            "cpu_pct": round(100 * (during.cpu_s - before.cpu_s) / (during.at - before.at), 1),
            "rss_before_kib": before.rss_kib,
            "rss_peak_growth_kib": peak[0] - before.rss_kib,
            "rss_after_kib": after.rss_kib,
        }
    return report


def main(argv: Sequence[str] | None = None) -> None:
    options = parser().parse_args(argv)
    print(json.dumps(asyncio.run(run(options))))


if __name__ == "__main__":
    main()

"""``python -m app.bench.history``: what history costs.

Two figures: how many events per second the SQLite history store writes (its writer thread,
measured in this process on a scratch file), and how long a web client's resume of N events
takes against a running server (connect with ``?since=``, until the replay's "live" marker).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import websockets

from app.bus.sqlite import SqliteStore
from app.domain.events import Event, Kind


def store_throughput(events: int) -> float:
    """Events per second from the first append until the writer thread has committed them all."""
    with tempfile.TemporaryDirectory() as scratch:
        store = SqliteStore(Path(scratch) / "history.db", capacity=500)
        store.load()
        store.start()
        started = time.perf_counter()
        for i in range(1, events + 1):
            store.save([Event(Kind.MESSAGE, nick="bench", text=f"message {i} " + "x" * 60, id=i, ts=time.time())])
        store.close(timeout=120)
        elapsed = time.perf_counter() - started
        if store.persisted_id != events:
            raise RuntimeError(f"only {store.persisted_id} of {events} events were written")
        return events / elapsed


def fill(host: str, tcp_port: int, http: str, events: int) -> int:
    """Say ``events`` lines over TCP (flood control must be off) and return the newest id."""
    with socket.create_connection((host, tcp_port), timeout=10) as sock:
        sock.sendall(b"".join(f"history bench line {i}\r\n".encode() for i in range(events)))
        sock.sendall(b"/who\r\n")
        buffer = b""
        while b" here: " not in buffer:  # the answer to /who: every line above was handled
            buffer = buffer[-4096:] + sock.recv(65536)
    return int(httpx.get(f"{http}/healthz", timeout=5).json()["history"]["last_id"])


async def resume_ms(url: str, since: int) -> float:
    """Milliseconds from opening the connection to the end of the replay."""
    started = time.perf_counter()
    async with websockets.connect(f"{url}&since={since}", max_size=None) as ws:
        while True:
            frame = json.loads(await ws.recv())
            for event in frame if isinstance(frame, list) else [frame]:
                if event.get("code") == "live":
                    return (time.perf_counter() - started) * 1000


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m app.bench.history", description=__doc__)
    p.add_argument("--target", default="127.0.0.1", help="server host (default 127.0.0.1; others only when given)")
    p.add_argument("--port", type=int, default=8000, help="HTTP/WebSocket port")
    p.add_argument("--tcp-port", type=int, default=2626, help="TCP port, used to fill the history")
    p.add_argument("--events", type=int, default=500, help="events in one resume (default 500)")
    p.add_argument("--resumes", type=int, default=20, help="resumes to time (default 20)")
    p.add_argument("--store-events", type=int, default=50_000, help="events written to time the store")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    args = p.parse_args()

    rate = store_throughput(args.store_events)
    http, url = f"http://{args.target}:{args.port}", f"ws://{args.target}:{args.port}/ws?nick=historybench"
    last = fill(args.target, args.tcp_port, http, args.events)
    timings = [asyncio.run(resume_ms(url, last - args.events)) for _ in range(args.resumes)]
    report = {
        "store_events_per_s": round(rate),
        "resume_events": args.events,
        "resume_ms": {"p50": round(statistics.median(timings), 2), "max": round(max(timings), 2)},
    }
    if args.json:
        print(json.dumps(report))
    else:
        print(f"history store   {report['store_events_per_s']:,} events/s written (SQLite, WAL)")
        print(f"resume of {args.events}  p50 {report['resume_ms']['p50']} ms, max {report['resume_ms']['max']} ms")


if __name__ == "__main__":
    main()

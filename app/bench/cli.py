"""Command line: ``python -m app.bench --tcp 500 --ws 500 --publishers 10 --rate 100``.

Traffic goes to 127.0.0.1 unless ``--target`` names another host: pointing a load generator
at a machine must be a deliberate choice.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from app.bench.plan import Options


def positive(kind: type):  # type: ignore[no-untyped-def]
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a {kind.__name__}") from None
        if value < 0:
            raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
        return value

    return parse


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m app.bench",
        description="Load the chat server with TCP and WebSocket clients and measure fan-out latency, loss and memory.",
    )
    count, number = positive(int), positive(float)
    p.add_argument("--target", default="127.0.0.1", help="server host (default 127.0.0.1; others only when given)")
    p.add_argument(
        "--port", type=count, nargs="+", default=[8000], help="HTTP/WebSocket port; several: processes of one room"
    )
    p.add_argument("--tcp-port", type=count, nargs="+", default=[2626], help="TCP gateway port(s) (default 2626)")
    p.add_argument("--ws-path", default="/ws", help="WebSocket path (default /ws; ?nick=benchN is added)")
    p.add_argument("--tcp", type=count, default=0, metavar="N", help="TCP clients")
    p.add_argument("--ws", type=count, default=0, metavar="M", help="WebSocket clients")
    p.add_argument("--publishers", type=count, default=1, metavar="P", help="publishing clients, alternating gateways")
    p.add_argument("--rate", type=number, default=10.0, help="messages per second, in total over all publishers")
    p.add_argument("--duration", type=number, default=10.0, help="seconds of publishing (or of holding with --idle)")
    p.add_argument("--connect-rate", type=number, default=500.0, help="new connections per second (default 500)")
    p.add_argument("--connect-timeout", type=number, default=30.0, help="seconds for every client to get its welcome")
    p.add_argument("--settle", type=number, default=1.0, help="pause between connecting and publishing")
    p.add_argument("--drain", type=number, default=5.0, help="longest wait for deliveries after publishing")
    p.add_argument("--procs", type=count, default=min(4, os.cpu_count() or 1), help="client processes")
    p.add_argument(
        "--rooms", type=count, default=0, metavar="R", help="spread clients and publishers over R rooms (default: one)"
    )
    p.add_argument("--idle", action="store_true", help="only connect and hold the clients (memory per connection)")
    p.add_argument("--server-pid", type=count, default=None, help="server pid, for its RSS and CPU (same machine)")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--no-progress", action="store_true", help="no progress line on stderr")
    return p


def parse(argv: Sequence[str] | None = None) -> Options:
    """Options from the command line; exits with a usage error when they make no sense."""
    p = parser()
    a = p.parse_args(argv)
    clients = a.tcp + a.ws
    if clients == 0:
        p.error("no clients: give --tcp N and/or --ws M")
    if not a.idle:
        if not 1 <= a.publishers <= clients:
            p.error(f"--publishers must be between 1 and the number of clients ({clients})")
        if a.rate <= 0 or a.duration <= 0:
            p.error("--rate and --duration must be positive")
    if a.rooms and (clients % a.rooms or clients // a.rooms < 2):
        p.error("--rooms must divide the clients into rooms of at least 2")
    if a.connect_rate <= 0:
        p.error("--connect-rate must be positive")
    if not a.ws_path.startswith("/"):
        p.error("--ws-path must start with /")
    return Options(
        target=a.target,
        ports=tuple(a.port),
        tcp_ports=tuple(a.tcp_port),
        ws_path=a.ws_path,
        tcp=a.tcp,
        ws=a.ws,
        publishers=a.publishers,
        rate=a.rate,
        duration=a.duration,
        connect_rate=a.connect_rate,
        connect_timeout=a.connect_timeout,
        settle=a.settle,
        drain=a.drain,
        procs=max(1, min(a.procs, clients)),
        idle=a.idle,
        server_pid=a.server_pid,
        json=a.json,
        progress=not a.no_progress,
        rooms=a.rooms,
    )


def main(argv: Sequence[str] | None = None) -> None:
    from app.bench.runner import Coordinator

    options = parse(argv)
    result = Coordinator(options).run()
    print(result.to_json() if options.json else result.to_text())
    if not result.clients["ready_tcp"] + result.clients["ready_ws"]:
        sys.exit(f"no client could connect to {options.target}")

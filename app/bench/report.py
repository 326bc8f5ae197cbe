"""The report: merged from the workers' results, printed for people or as one JSON object."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from app.bench import plan, server
from app.bench.stats import Tally
from app.bench.worker import WorkerResult

PERCENTILES = (50, 90, 99)


@dataclass(slots=True)
class Report:
    target: str
    mode: str
    procs: int
    clients: dict[str, int]
    connect_time_s: float
    msgs_sent: int = 0
    deliveries_expected: int = 0
    deliveries_received: int = 0
    deliveries_per_s: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    loss: int = 0
    loss_pct: float = 0.0
    duplicates: int = 0
    out_of_order: int = 0
    self_echo: int = 0
    disconnects: int = 0
    generator_lag_max_ms: float = 0.0
    errors: dict[str, int] = field(default_factory=dict)
    server: dict[str, Any] | None = None
    rooms: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=False)

    def to_text(self) -> str:
        c = self.clients
        lines = [
            f"target       {self.target} ({self.mode}, {self.procs} processes"
            + (f", {self.rooms} rooms)" if self.rooms else ")"),
            f"clients      tcp {c['ready_tcp']}/{c['tcp']}, ws {c['ready_ws']}/{c['ws']} ready, failed {c['failed']},"
            f" connect time {self.connect_time_s:.2f} s",
        ]
        if self.errors:
            lines.append("errors       " + ", ".join(f"{k} {v}" for k, v in sorted(self.errors.items())))
        if self.mode == "fanout":
            lat = self.latency_ms
            lines += [
                f"messages     {self.msgs_sent} sent (generator lag max {self.generator_lag_max_ms:.1f} ms)",
                f"deliveries   expected {self.deliveries_expected}, received {self.deliveries_received},"
                f" loss {self.loss} ({self.loss_pct:.3f}%), duplicates {self.duplicates},"
                f" out-of-order {self.out_of_order}",
                f"throughput   {self.deliveries_per_s:,.0f} deliveries/s",
                f"latency ms   p50 {lat['p50']:.2f}  p90 {lat['p90']:.2f}  p99 {lat['p99']:.2f}  max {lat['max']:.2f}"
                f"  mean {lat['mean']:.2f}",
                f"disconnects  {self.disconnects}",
            ]
        if self.server:
            s = self.server
            lines.append(
                f"server       pid {s['pid']}: RSS {s['rss_kib_before']} KiB before, {s['rss_kib_connected']} KiB"
                f" connected ({s['kib_per_connection']:.2f} KiB per connection), {s['rss_kib_end']} KiB at end;"
                f" CPU {s['cpu_pct']:.0f}%"
            )
        return "\n".join(lines)


def build(
    options: plan.Options,
    ready: tuple[int, int, int],
    connect_s: float,
    results: list[WorkerResult],
    t0_ns: int,
    samples: tuple[server.Sample | None, server.Sample | None, server.Sample | None],
) -> Report:
    """Merge the workers' results; expected deliveries are every message to every ready client but its sender."""
    tally = Tally()
    errors: dict[str, int] = {}
    for result in results:
        tally.merge(result.tally)
        for name, count in result.errors.items():
            errors[name] = errors.get(name, 0) + count
    ready_tcp, ready_ws, failed = ready
    sent = sum(r.sent for r in results)
    readers = options.audience if options.rooms else ready_tcp + ready_ws - 1
    expected = 0 if options.idle else sent * max(0, readers)
    window = max(options.duration, (tally.last_receive_ns - t0_ns) / 1e9)
    hist = tally.latency_us
    latency = {f"p{p}": hist.percentile(p) / 1000 for p in PERCENTILES}
    latency |= {"max": hist.max / 1000, "mean": round(hist.mean / 1000, 3)}
    return Report(
        target=options.target,
        mode="idle" if options.idle else "fanout",
        procs=options.procs,
        clients={"tcp": options.tcp, "ws": options.ws, "ready_tcp": ready_tcp, "ready_ws": ready_ws, "failed": failed},
        connect_time_s=round(connect_s, 3),
        msgs_sent=sent,
        deliveries_expected=expected,
        deliveries_received=tally.received,
        deliveries_per_s=round(tally.received / window, 1) if not options.idle else 0.0,
        latency_ms=latency,
        loss=max(0, expected - tally.received),
        loss_pct=round(100 * max(0, expected - tally.received) / expected, 4) if expected else 0.0,
        duplicates=tally.duplicates,
        out_of_order=tally.out_of_order,
        self_echo=tally.self_echo,
        disconnects=sum(r.disconnects for r in results),
        generator_lag_max_ms=round(max((r.lag_max_ms for r in results), default=0.0), 3),
        errors=errors,
        server=_server(options.server_pid, ready_tcp + ready_ws, *samples),
        rooms=options.rooms,
    )


def _server(pid: int | None, connections: int, *samples: server.Sample | None) -> dict[str, Any] | None:
    before, connected, end = samples
    if pid is None or before is None or connected is None or end is None:
        return None
    busy = end.cpu_s - connected.cpu_s
    elapsed = end.at - connected.at
    return {
        "pid": pid,
        "rss_kib_before": before.rss_kib,
        "rss_kib_connected": connected.rss_kib,
        "rss_kib_end": end.rss_kib,
        "kib_per_connection": round((connected.rss_kib - before.rss_kib) / connections, 2) if connections else 0.0,
        "cpu_pct": round(100 * busy / elapsed, 1) if elapsed > 0 else 0.0,
    }

"""How the workers' results become the report: expected deliveries, loss, throughput and the
server's memory per connection."""

import pytest

from app.bench import report
from app.bench.plan import Options
from app.bench.server import Sample
from app.bench.stats import Tally
from app.bench.worker import WorkerResult

T0 = 1_000_000_000_000


def result(sent: int, received: int, latencies_us: list[int], last_s: float) -> WorkerResult:
    tally = Tally(received=received, last_receive_ns=T0 + int(last_s * 1e9))
    for value in latencies_us:
        tally.latency_us.add(value)
    return WorkerResult(sent=sent, tally=tally)


def test_loss_is_what_did_not_reach_every_other_ready_client() -> None:
    options = Options(tcp=3, ws=2, publishers=2, rate=10, duration=2, procs=2)
    a = result(sent=12, received=50, latencies_us=[1000] * 50, last_s=2.0)
    b = result(sent=8, received=25, latencies_us=[3000] * 25, last_s=2.5)
    r = report.build(options, (3, 2, 0), 0.5, [a, b], T0, (None, None, None))
    assert r.msgs_sent == 20
    assert r.deliveries_expected == 20 * 4
    assert (r.deliveries_received, r.loss, r.loss_pct) == (75, 5, 6.25)
    assert r.deliveries_per_s == 30.0  # 75 over 2.5 s: the last delivery came after the 2 s of publishing
    assert r.latency_ms["p50"] == pytest.approx(1.0, rel=1 / 64)
    assert r.latency_ms["max"] == 3.0
    assert r.server is None


def test_server_memory_is_divided_by_the_connections_held() -> None:
    options = Options(tcp=100, idle=True, server_pid=7)
    samples = (Sample(30_000, 1.0, 10.0), Sample(30_500, 2.0, 12.0), Sample(30_600, 3.0, 16.0))
    r = report.build(options, (100, 0, 0), 1.0, [WorkerResult()], T0, samples)
    assert r.mode == "idle" and r.deliveries_expected == 0 and r.loss == 0
    assert r.server == {
        "pid": 7,
        "rss_kib_before": 30_000,
        "rss_kib_connected": 30_500,
        "rss_kib_end": 30_600,
        "kib_per_connection": 5.0,
        "cpu_pct": 25.0,
    }
    assert "5.00 KiB per connection" in r.to_text()


def test_the_text_report_names_every_figure() -> None:
    options = Options(tcp=2, publishers=1)
    r = report.build(options, (2, 0, 0), 0.1, [result(10, 10, [500] * 10, 1.0)], T0, (None, None, None))
    text = r.to_text()
    for figure in ("connect time", "sent", "expected 10, received 10", "loss 0", "duplicates 0", "out-of-order 0",
                   "deliveries/s", "p50", "p90", "p99", "max"):  # fmt: skip
        assert figure in text

"""A short real run of ``python -m app.bench`` against the real server: every message reaches
every other client, and the report carries every figure it promises."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

from support import ROOT, ServerProcess

REPORT_FIELDS = {
    "target", "mode", "procs", "clients", "connect_time_s", "msgs_sent", "deliveries_expected",
    "deliveries_received", "deliveries_per_s", "latency_ms", "loss", "loss_pct", "duplicates",
    "out_of_order", "self_echo", "disconnects", "generator_lag_max_ms", "errors", "server", "rooms",
}  # fmt: skip


def bench(server: ServerProcess, *args: str) -> dict:  # type: ignore[type-arg]
    command = [sys.executable, "-m", "app.bench", "--port", str(server.port), "--tcp-port", str(server.tcp_port)]
    done = subprocess.run(
        [*command, "--server-pid", str(server.pid), "--json", "--no-progress", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=45,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_short_fanout_run_loses_nothing(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(CHAT_RATE="0")
    report = bench(
        server, "--tcp", "3", "--ws", "3", "--publishers", "2", "--rate", "20", "--duration", "1", "--settle", "0.2",
        "--procs", "2",
    )  # fmt: skip
    assert report.keys() >= REPORT_FIELDS
    assert report["clients"] == {"tcp": 3, "ws": 3, "ready_tcp": 3, "ready_ws": 3, "failed": 0}
    assert report["msgs_sent"] == 20
    assert report["deliveries_expected"] == 20 * 5
    assert report["deliveries_received"] == report["deliveries_expected"]
    assert (report["loss"], report["duplicates"], report["out_of_order"]) == (0, 0, 0)
    assert report["self_echo"] == 10  # the web publisher sees its own messages; they are not deliveries
    assert set(report["latency_ms"]) == {"p50", "p90", "p99", "max", "mean"}
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p99"] <= report["latency_ms"]["max"]
    assert report["server"]["pid"] == server.pid and report["server"]["rss_kib_connected"] > 0


def test_rate_limited_messages_show_up_as_loss(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(CHAT_RATE="1", CHAT_BURST="2")
    report = bench(server, "--tcp", "2", "--publishers", "1", "--rate", "10", "--duration", "1", "--settle", "0.2")
    assert report["msgs_sent"] == 10
    assert report["deliveries_received"] < report["deliveries_expected"] == 10
    assert report["loss"] == 10 - report["deliveries_received"] > 0


def test_idle_holds_every_connection(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server()
    report = bench(server, "--tcp", "4", "--ws", "4", "--idle", "--duration", "0.5", "--procs", "2")
    assert report["mode"] == "idle"
    assert report["clients"]["ready_tcp"] == 4 and report["clients"]["ready_ws"] == 4
    assert report["disconnects"] == 0
    assert report["server"]["kib_per_connection"] is not None


def test_the_history_benchmark_reports_store_rate_and_resume_time(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(CHAT_RATE="0")
    done = subprocess.run(
        [sys.executable, "-m", "app.bench.history", "--port", str(server.port), "--tcp-port", str(server.tcp_port),
         "--events", "50", "--resumes", "3", "--store-events", "2000", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["store_events_per_s"] > 0
    assert report["resume_events"] == 50
    assert 0 < report["resume_ms"]["p50"] <= report["resume_ms"]["max"]


def test_a_run_spread_over_rooms_delivers_each_message_to_its_room_only(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(CHAT_RATE="0")
    report = bench(
        server, "--tcp", "6", "--ws", "6", "--rooms", "3", "--publishers", "3", "--rate", "30", "--duration", "1",
        "--settle", "0.2", "--procs", "2",
    )  # fmt: skip
    assert report["rooms"] == 3
    assert report["clients"]["ready_tcp"] + report["clients"]["ready_ws"] == 12
    assert report["msgs_sent"] == 30
    assert report["deliveries_expected"] == 30 * 3, "four clients a room: three readers besides the sender"
    assert report["deliveries_received"] == report["deliveries_expected"], "nothing lost, nothing from other rooms"
    assert (report["loss"], report["duplicates"], report["out_of_order"]) == (0, 0, 0)

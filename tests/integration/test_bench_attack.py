"""A short real run of ``python -m app.bench.attack``: the report carries every figure it promises,
and the attack it describes did happen (the attacker was cut; the honest pair lost nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable

from support import ROOT, ServerProcess


def test_an_attack_run_reports_the_attacker_the_honest_users_and_the_server(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server()
    command = [sys.executable, "-m", "app.bench.attack", "bad-ws-frames", "--port", str(server.port)]
    command += ["--tcp-port", str(server.tcp_port), "--server-pid", str(server.pid), "--duration", "1.5"]
    done = subprocess.run([*command, "--pairs", "1"], cwd=ROOT, capture_output=True, text=True, timeout=45)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report.keys() == {"attack", "duration_s", "attacker", "honest", "newcomer_ms", "server"}
    assert report["attacker"]["cut_after_s"] is not None and report["attacker"]["sent_bytes"] > 0
    honest = report["honest"]
    assert honest["sent"] > 0 and honest["expected"] == honest["sent"] and honest["lost"] == 0
    assert 0 < honest["latency_ms"]["p50"] <= honest["latency_ms"]["p99"] <= honest["latency_ms"]["max"]
    assert all(ms is not None for ms in report["newcomer_ms"].values())
    assert report["server"].keys() == {"cpu_pct", "rss_before_kib", "rss_peak_growth_kib", "rss_after_kib"}


def test_an_unknown_attack_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "app.bench.attack", "no-such-attack"], cwd=ROOT, capture_output=True, text=True
    )
    assert done.returncode == 2 and "invalid choice" in done.stderr

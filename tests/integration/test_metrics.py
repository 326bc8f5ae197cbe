"""``GET /metrics``: Prometheus's text format, read by Prometheus's own parser, with figures that
follow what happens in the room; served to local scrapers or with the token, to no one else."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
from prometheus_client.parser import text_string_to_metric_families
from support import ServerProcess


def scrape(server: ServerProcess, headers: dict[str, str] | None = None) -> dict[tuple[str, tuple], float]:
    response = httpx.get(f"{server.http_url}/metrics", headers=headers, timeout=5)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_follow_the_room(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(CHAT_BURST="1", CHAT_RATE="0.01", CHAT_KICK_AFTER="100", CHAT_PASTE_LINES="0")
    before = scrape(server)
    assert before[("chat_clients", (("door", "web"),))] == 0
    alice, bob = server.web("alice"), server.tcp(nick="bob")  # bob's /nick spends his one token
    alice.say("hello")
    bob.expect("[alice] hello")
    bob.send("too fast")
    bob.expect(lambda line: line.startswith("! Slow down"))
    garbler = server.web("garbler")
    garbler.send_raw("{not json")
    garbler.expect(type="error", code="bad_frame")
    garbler.close()
    alice.expect(type="leave", nick="garbler")
    quitter = server.web("quitter")
    quitter.say("/quit")
    alice.expect(type="leave", nick="quitter")
    after = scrape(server)
    assert after[("chat_clients", (("door", "web"),))] == 1
    assert after[("chat_clients", (("door", "telnet"),))] == 1
    assert after[("chat_connections_total", (("door", "web"),))] == 3
    assert after[("chat_events_total", (("kind", "message"),))] == 1
    assert after[("chat_events_total", (("kind", "join"),))] == 4
    assert after[("chat_events_total", (("kind", "leave"),))] == 2
    assert after[("chat_rate_limited_total", ())] == 1
    assert after[("chat_refused_input_total", ())] == 1
    assert after[("chat_goodbyes_total", (("reason", "quit"),))] == 1
    assert after[("chat_deliveries_total", ())] > before[("chat_deliveries_total", ())]
    assert after[("chat_fanout_seconds_count", ())] > 0
    assert after[("chat_history_last_id", ())] == 8  # 4 joins, a nick, a message, 2 leaves
    assert after[("chat_history_events", (("kind", "messages"),))] == 1
    assert after[("chat_history_events", (("kind", "presence"),))] == 7
    assert after[("chat_degraded", ())] == after[("chat_bus_degraded", ())] == 0
    assert after[("chat_bus_unsent_events", ())] == 0
    assert after[("chat_outbox_backlog_events", ())] == 0
    deadline = time.monotonic() + 5  # the history writer runs on a thread of its own
    while scrape(server)[("chat_history_writer_lag", ())] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert scrape(server)[("chat_history_writer_lag", ())] == 0


def test_metrics_are_refused_through_a_proxy_and_without_the_token(start_server: Callable[..., ServerProcess]) -> None:
    local = start_server()
    through_proxy = httpx.get(f"{local.http_url}/metrics", headers={"X-Forwarded-For": "127.0.0.1"}, timeout=5)
    assert through_proxy.status_code == 403
    assert "CHAT_METRICS_TOKEN" in through_proxy.text

    guarded = start_server(CHAT_METRICS_TOKEN="s3cret-token", CHAT_METRICS_ALLOW_IPS="192.0.2.1")
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic s3cret-token"}):
        refused = httpx.get(f"{guarded.http_url}/metrics", headers=headers, timeout=5)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"] == "Bearer"
        assert "chat_" not in refused.text
    proxied = {"Authorization": "Bearer s3cret-token", "X-Forwarded-For": "203.0.113.5"}
    assert ("chat_clients", (("door", "web"),)) in scrape(guarded, proxied)

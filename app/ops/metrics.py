"""``GET /metrics``: the server's figures in Prometheus's text format, via ``prometheus-client``.

Almost everything is read at scrape time from what the server keeps anyway (connections, channel
and outbox sizes, the bus's state) or counts in plain integers as it goes (``app.hub.tally``): a
scrape costs one pass over the connections (to count them per door) and adds nothing to the hot
path. The one figure measured as it happens is the fan-out time of each loop turn, a histogram
observed once per flush (not per client).

Who may read it: a request straight from an address in ``CHAT_METRICS_ALLOW_IPS`` (loopback by
default), or one bearing ``Authorization: Bearer <CHAT_METRICS_TOKEN>``. A request that came
through a proxy (it carries ``X-Forwarded-For``) is never taken for a local one.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from app.bus.base import Bus
from app.domain.addresses import Networks
from app.domain.events import Gateway, Kind
from app.domain.goodbye import Goodbye
from app.hub.core import Hub
from app.hub.handshakes import Ending

CONTENT_TYPE = CONTENT_TYPE_LATEST
FANOUT_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25)
"""Seconds: an idle room's turn is tens of microseconds, a busy one's a few milliseconds."""


class Watched(Protocol):
    """What a scrape reads: the chat service's hub and bus (``app.service``'s ``ChatService``)."""

    hub: Hub
    bus: Bus


class Metrics:
    """The registry of one chat service: its collector, and the fan-out time histogram.

    ``per_worker``: the service is one of several worker processes behind one port (gunicorn), and
    a scrape reaches whichever worker accepts it. Every series then carries ``worker="<pid>"``,
    so that no worker's counters are taken for another's: add them up across workers in the
    query (``sum without (worker) (...)``), and scrape often enough to reach each. (Prometheus's
    multiprocess mode would add them up in the scrape, but only for values written to shared files
    as they change; almost everything here is read from the server's own state when scraped.)"""

    def __init__(self, per_worker: bool = False) -> None:
        self.per_worker = per_worker
        self.registry = CollectorRegistry(auto_describe=False)
        self.fanout = Histogram(
            "chat_fanout_seconds",
            "Time to write one loop turn's events to every client (one flush of the fan-out)",
            buckets=FANOUT_BUCKETS,
            registry=self.registry,
        )

    def watch(self, service: Watched) -> None:
        self.registry.register(ChatCollector(service))

    def render(self) -> bytes:
        if not self.per_worker:
            return generate_latest(self.registry)
        labelled = CollectorRegistry(auto_describe=False)
        labelled.register(WorkerLabel(self.registry, str(os.getpid())))
        return generate_latest(labelled)


class WorkerLabel(Collector):
    """Every series of ``registry``, labelled with the worker process that measured it."""

    def __init__(self, registry: CollectorRegistry, worker: str) -> None:
        self.registry = registry
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        for metric in self.registry.collect():
            labelled = Metric(metric.name, metric.documentation, metric.type, metric.unit)
            for sample in metric.samples:
                labels = {**sample.labels, "worker": self.worker}
                labelled.add_sample(sample.name, labels, sample.value, sample.timestamp, sample.exemplar)
            yield labelled


class ChatCollector(Collector):
    """Reads the service's state and tallies when scraped."""

    def __init__(self, service: Watched) -> None:
        self.service = service

    def collect(self) -> Iterator[Metric]:
        hub, bus = self.service.hub, self.service.bus
        tally = hub.tally
        open_now = GaugeMetricFamily("chat_clients", "Clients connected now, per door", labels=["door"])
        admitted = CounterMetricFamily("chat_connections", "Connections admitted, per door", labels=["door"])
        counts = hub.gateway_counts()
        for door in Gateway:
            open_now.add_metric([door.value], counts[door.value])
            admitted.add_metric([door.value], tally.connections[door])
        yield open_now
        yield admitted
        yield _by_reason("chat_refused_connections", "Connections refused at the door, per reason", tally.refusals)
        yield _by_reason("chat_goodbyes", "Connections the server ended, per reason", tally.goodbyes)
        events = CounterMetricFamily("chat_events", "Public events delivered here, per kind", labels=["kind"])
        for kind in (Kind.MESSAGE, Kind.ACTION, Kind.JOIN, Kind.LEAVE, Kind.NICK):
            events.add_metric([kind.value], tally.events[kind])
        yield events
        yield CounterMetricFamily(
            "chat_deliveries",
            "Events handed to clients (one per event and client)",
            sum(c.delivered for c in hub.switchboard),
        )
        yield GaugeMetricFamily("chat_handshakes", "Connections still in their handshake", len(hub.handshakes))
        cut = CounterMetricFamily("chat_handshakes_cut", "Handshakes cut by the server, per reason", labels=["reason"])
        for ending in Ending:
            cut.add_metric([ending.name.lower()], hub.handshakes.ended[ending])
        yield cut
        yield CounterMetricFamily("chat_rate_limited", "Lines refused by flood control", tally.rate_limited)
        yield CounterMetricFamily(
            "chat_refused_input", "Input refused outright (bad frames, over-long lines, ...)", tally.refused_input
        )
        behind = [outbox.backlog for channel in hub.switchboard for outbox in channel.out_of_step]
        yield GaugeMetricFamily("chat_clients_out_of_step", "Clients with a backlog of their own", len(behind))
        yield GaugeMetricFamily(
            "chat_outbox_backlog_events", "Events waiting in clients' own backlogs", sum(e for e, _ in behind)
        )
        yield GaugeMetricFamily(
            "chat_outbox_backlog_bytes", "Bytes waiting in clients' own backlogs", sum(b for _, b in behind)
        )
        yield GaugeMetricFamily(
            "chat_degraded", "1 while /healthz says degraded (Redis or the disk)", int(bool(bus.problem))
        )
        yield GaugeMetricFamily(
            "chat_bus_degraded", "1 while the shared room (Redis) is unreachable", int(bus.degraded)
        )
        yield GaugeMetricFamily("chat_bus_unsent_events", "Events published here and not yet numbered", bus.unsent)
        kept = GaugeMetricFamily("chat_history_events", "Public events held in history, per kind", labels=["kind"])
        kept.add_metric(["messages"], bus.history.messages)
        kept.add_metric(["presence"], bus.history.presence)
        yield kept
        yield GaugeMetricFamily("chat_history_last_id", "Highest id of a public event in any room", bus.last_id)
        store = getattr(bus, "store", None)  # the embedded bus's SQLite writer, when history is on disk
        if store is not None:
            yield GaugeMetricFamily("chat_history_writer_lag", "Ids handed out and not yet on disk", store.lag)
            yield GaugeMetricFamily(
                "chat_history_writer_worst_lag", "The writer's largest lag since start-up", store.worst_lag
            )


def _by_reason(name: str, documentation: str, counts: Mapping[Goodbye, int]) -> CounterMetricFamily:
    """One series per reason that has happened (a reason appears when it first does)."""
    family = CounterMetricFamily(name, documentation, labels=["reason"])
    for goodbye in Goodbye:
        if goodbye in counts:
            family.add_metric([goodbye.name.lower()], counts[goodbye])
    return family


@dataclass(frozen=True, slots=True)
class Denied:
    status: int
    text: str
    headers: dict[str, str]


class MetricsAccess:
    """Decides who may read the metrics (see the module's docstring)."""

    def __init__(self, token: str | None, allowed: Networks) -> None:
        self.token = token
        self.allowed = allowed

    def check(self, headers: Mapping[str, str], client: str) -> Denied | None:
        """None to serve the request, else why not. ``client`` is the request's client address,
        which is the socket's own peer only when no proxy header named another."""
        if "x-forwarded-for" not in headers and self.allowed.lists(client):
            return None
        if self.token is None:
            return Denied(
                403,
                "Metrics are served to CHAT_METRICS_ALLOW_IPS (loopback by default) or with CHAT_METRICS_TOKEN.\n",
                {},
            )
        scheme, _, given = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), self.token.encode()):
            return None
        return Denied(
            401,
            "A valid metrics token is needed (Authorization: Bearer <CHAT_METRICS_TOKEN>).\n",
            {"WWW-Authenticate": "Bearer"},
        )

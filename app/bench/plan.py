"""What to run, and how it is split over processes: the options, each worker's share of the
clients and publishers, and the publishing schedule."""

from __future__ import annotations

import math
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Options:
    """A benchmark run, as given on the command line."""

    target: str = "127.0.0.1"
    ports: tuple[int, ...] = (8000,)
    tcp_ports: tuple[int, ...] = (2626,)
    ws_path: str = "/ws"
    tcp: int = 0
    ws: int = 0
    publishers: int = 1
    rate: float = 10.0
    duration: float = 10.0
    connect_rate: float = 500.0
    connect_timeout: float = 30.0
    settle: float = 1.0
    drain: float = 5.0
    procs: int = 1
    idle: bool = False
    server_pid: int | None = None
    json: bool = False
    progress: bool = True
    rooms: int = 0
    """Rooms the clients are spread over (0: all in the room everyone starts in, as one-room servers)."""

    @property
    def clients(self) -> int:
        return self.tcp + self.ws

    def room_of(self, client_id: int) -> str | None:
        """The room a client joins (``bench<n>``, without ``#``), or None without ``--rooms``.
        Clients are dealt round-robin, so each room gets its share of both doors."""
        return f"bench{client_id % self.rooms}" if self.rooms else None

    @property
    def audience(self) -> int:
        """Readers of one message besides its sender, when every client is connected."""
        return (self.clients // self.rooms if self.rooms else self.clients) - 1

    def port_of(self, client_id: int) -> int:
        """The port a client connects to: several servers (processes sharing a room through
        Redis) get the clients of each kind in turn."""
        if client_id < self.tcp:
            return self.tcp_ports[client_id % len(self.tcp_ports)]
        return self.ports[(client_id - self.tcp) % len(self.ports)]


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    """One process's share: client ids (TCP ids come first, then WebSocket ids) and publishers."""

    index: int
    options: Options
    tcp_ids: tuple[int, ...]
    ws_ids: tuple[int, ...]
    publishers: dict[int, int] = field(default_factory=dict)  # client id -> publisher number

    @property
    def connect_rate(self) -> float:
        return self.options.connect_rate / self.options.procs


def publisher_clients(options: Options) -> list[int]:
    """The client id of each publisher, alternating between the gateways while both have clients;
    with rooms, publisher k is in room k mod R, so the messages are spread over every room."""
    if options.rooms:
        return _room_publishers(options)
    tcp, ws = list(range(options.tcp)), list(range(options.tcp, options.clients))
    order: list[int] = []
    while (tcp or ws) and len(order) < options.publishers:
        for side in (tcp, ws):
            if side and len(order) < options.publishers:
                order.append(side.pop(0))
    return order


def _room_publishers(options: Options) -> list[int]:
    members: dict[int, tuple[list[int], list[int]]] = {r: ([], []) for r in range(options.rooms)}
    for client in range(options.clients):
        members[client % options.rooms][client >= options.tcp].append(client)
    order: list[int] = []
    for k in range(options.publishers):
        tcp, ws = members[k % options.rooms]
        first, second = (tcp, ws) if (k // options.rooms) % 2 == 0 else (ws, tcp)
        side = first or second
        if side:
            order.append(side.pop(0))
    return order


def split(options: Options) -> list[WorkerPlan]:
    """Deal the clients round-robin over ``options.procs`` workers; a publisher stays with its client."""
    chosen = {} if options.idle else {client: n for n, client in enumerate(publisher_clients(options))}
    plans = []
    for w in range(options.procs):
        ids = range(w, options.clients, options.procs)
        plans.append(
            WorkerPlan(
                index=w,
                options=options,
                tcp_ids=tuple(i for i in ids if i < options.tcp),
                ws_ids=tuple(i for i in ids if i >= options.tcp),
                publishers={c: p for c, p in chosen.items() if c % options.procs == w},
            )
        )
    return plans


def schedule(publisher: int, options: Options) -> list[float]:
    """Send times (seconds after the start) of one publisher: the total rate, interleaved evenly."""
    p, rate = options.publishers, options.rate
    count = max(0, math.ceil((options.duration * rate - publisher) / p))
    return [(seq * p + publisher) / rate for seq in range(count)]

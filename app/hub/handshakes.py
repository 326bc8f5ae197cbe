"""Unfinished handshakes of every door, in one pool: HTTP request heads, TLS handshakes, SSH logins,
PROXY protocol preambles.

A connection that has not finished its handshake holds a file descriptor and some memory like a
chat client, but nobody is talking yet: a flood of them (sockets opened and left silent, or fed
a byte at a time) can use every descriptor the process has while costing the attacker nothing.
So every door admits through ``Handshakes.start``, which counts them against caps (in total, per
door, per address) and gives each two deadlines: its first bytes within ``start`` seconds, and the
whole handshake within the door's ``finish`` seconds.

**When a cap is reached, the newcomer still gets in: the idlest, oldest unfinished handshake in
the same scope is shed instead.** Refusing the newest would let whoever filled the pool first
keep everyone else out (32 silent sockets used to lock everyone out of SSH); shedding means a flood
only ever evicts itself, while an honest client, which finishes in milliseconds, is never the oldest for
long. "Idlest" first: handshakes that have not sent a byte yet go before those under way, and
within each group the one waiting longest goes first. So a handshake is never refused; only a
server shutting down turns new connections away.

The pool's total is its own share of the open-file ceiling (``app.ops.open_files``), apart from the
chat clients' ``CHAT_MAX_CONNECTIONS``: a full room still completes a handshake, to tell the
newcomer why it cannot come in (in its own protocol: an SSH disconnect message, a WebSocket close),
and a flood of handshakes can never take the descriptors chat clients need.

An address is the socket's own peer (``address_key``: an IPv4 address, an IPv6 /64), loopback and
trusted proxies included: their clients are counted too. Since such a peer speaks for many people,
its cap is half the pool rather than one person's (a burst of connections a busy loop accepts
at once, from one proxy or a local load generator, fits in it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import Protocol

from app.domain.addresses import address_key
from app.domain.events import Gateway


class Ending(Enum):
    """Why the pool ended a handshake on its own initiative (the door says so in its own terms)."""

    SILENT = "no first bytes in time"
    TOO_SLOW = "handshake not finished in time"
    CROWDED_OUT = "shed to make room for a newer handshake"


class Stage(Enum):
    """Where a handshake is: it ranks the idle ones first for shedding."""

    SILENT = "silent"  # connected, nothing received yet
    UNDER_WAY = "under way"  # bytes have arrived
    DONE = "done"  # finished, abandoned or shed: out of the pool


class Timer(Protocol):
    def cancel(self) -> None: ...


Later = Callable[[float, Callable[[], None]], Timer]
"""Schedules a call after a delay (the event loop's ``call_later``, or a test's clock)."""


@dataclass(frozen=True, slots=True)
class HandshakeLimits:
    total: int = 2048
    """Unfinished handshakes at once, every door together."""
    per_address: int = 16
    """Unfinished handshakes from one address (a browser opens six at once; a person needs one)."""
    per_door: dict[Gateway, int] = field(default_factory=dict)
    """Tighter caps for some doors (SSH: its key exchange costs the server real work)."""
    start: float = 3.0
    """Seconds from connecting to the first bytes."""


class Handshake:
    """One unfinished handshake in the pool; the door calls ``progressed`` when bytes come, and
    ``finished`` or ``abandoned`` when it ends on its own. Calls after the end are no-ops, so a
    door need not remember whether the pool shed it first."""

    __slots__ = ("_cut", "_heard", "_timers", "address", "door", "pool", "stage")

    def __init__(
        self,
        pool: Handshakes,
        door: Gateway,
        address: str,
        cut: Callable[[Ending], None],
        heard: Callable[[], bool] | None,
    ) -> None:
        self.pool = pool
        self.door = door
        self.address = address
        """The socket peer's budget unit (``address_key``)."""
        self.stage = Stage.SILENT
        self._cut = cut
        """Closes the connection, told why: called once, after the handshake has left the pool."""
        self._heard = heard
        """For a door that is not told when bytes arrive (SSH's library reads them): asked at the
        start deadline, and before it is shed as idle, whether they have."""
        self._timers: list[Timer] = []

    def progressed(self) -> None:
        """Bytes have arrived: the start deadline no longer applies, and it is shed after idle ones."""
        if self.stage is Stage.SILENT:
            self.pool._progressed(self)

    def finished(self) -> None:
        """The handshake is done: the connection is a client now (or about to be refused as one)."""
        self.pool._remove(self)

    def abandoned(self) -> None:
        """The connection ended, or turned out not to be a handshake, before finishing."""
        self.pool._remove(self)

    def _start_deadline(self) -> None:
        if self.stage is Stage.SILENT and self._heard is not None and self._heard():
            self.progressed()
        elif self.stage is Stage.SILENT:
            self.pool._end(self, Ending.SILENT)


class _Queue:
    """The handshakes of one scope (all, a door, an address), idle ones first, oldest first."""

    __slots__ = ("silent", "under_way")

    def __init__(self) -> None:
        self.silent: dict[Handshake, None] = {}
        self.under_way: dict[Handshake, None] = {}

    def __len__(self) -> int:
        return len(self.silent) + len(self.under_way)


class Handshakes:
    """The pool."""

    def __init__(self, limits: HandshakeLimits, later: Later) -> None:
        self.limits = limits
        self.later = later
        self._queues: dict[object, _Queue] = {}
        """Per scope: ``None`` for all of them, a ``Gateway`` for a door, a string for an address."""
        self.ended: Counter[Ending] = Counter()
        """Handshakes the pool ended, per reason, since start (a flood shows here: see /metrics)."""

    def __len__(self) -> int:
        queue = self._queues.get(None)
        return len(queue) if queue is not None else 0

    def count(self, address: str) -> int:
        """Unfinished handshakes from ``address`` (a budget unit)."""
        queue = self._queues.get(address)
        return len(queue) if queue is not None else 0

    def start(
        self,
        door: Gateway,
        peer: str,
        finish: float,
        cut: Callable[[Ending], None],
        exempt: bool = False,
        heard: Callable[[], bool] | None = None,
    ) -> Handshake:
        """A connection from the socket peer ``peer`` opened on ``door``: its place in the pool,
        shedding another if a cap is reached. ``exempt``: the peer
        speaks for many (loopback, a trusted proxy). ``cut`` closes the connection if the pool ends
        the handshake; ``heard`` (see ``Handshake``) for doors not told when bytes arrive."""
        address = address_key(peer)
        per_address = max(self.limits.per_address, self.limits.total // 2) if exempt else self.limits.per_address
        caps = ((address, per_address), (door, self.limits.per_door.get(door)), (None, self.limits.total))
        for scope, cap in caps:
            queue = self._queues.get(scope)
            while cap is not None and queue and len(queue) >= max(1, cap):
                self._end(self._first_to_shed(queue), Ending.CROWDED_OUT)
        handshake = Handshake(self, door, address, cut, heard)
        for scope in (None, door, address):
            self._queues.setdefault(scope, _Queue()).silent[handshake] = None
        handshake._timers = [
            self.later(self.limits.start, handshake._start_deadline),
            self.later(finish, lambda: self._end(handshake, Ending.TOO_SLOW)),
        ]
        return handshake

    def _first_to_shed(self, queue: _Queue) -> Handshake:
        """The idlest, oldest of ``queue``; a door that is not told of bytes is asked now."""
        while queue.silent:
            candidate = next(iter(queue.silent))
            if candidate._heard is None or not candidate._heard():
                return candidate
            self._progressed(candidate)
        return next(iter(queue.under_way))

    def _progressed(self, handshake: Handshake) -> None:
        handshake.stage = Stage.UNDER_WAY
        for scope in (None, handshake.door, handshake.address):
            queue = self._queues[scope]
            del queue.silent[handshake]
            queue.under_way[handshake] = None

    def _remove(self, handshake: Handshake) -> bool:
        """Take it out of the pool; False if it was out already."""
        if handshake.stage is Stage.DONE:
            return False
        for scope in (None, handshake.door, handshake.address):
            queue = self._queues[scope]
            queue.silent.pop(handshake, None)
            queue.under_way.pop(handshake, None)
            if not queue and scope is not None:
                del self._queues[scope]
        handshake.stage = Stage.DONE
        for timer in handshake._timers:
            timer.cancel()
        return True

    def _end(self, handshake: Handshake, ending: Ending) -> None:
        if self._remove(handshake):
            self.ended[ending] += 1
            handshake._cut(ending)

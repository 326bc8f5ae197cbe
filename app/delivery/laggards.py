"""Slow readers, judged by their rate over time rather than by one moment's backlog.

A client is *behind* while its transport pushes back (the kernel's buffers and the transport's
own are full): whatever the room says meanwhile waits in its outbox. Any reader is behind for a
moment when a burst outruns it, and that costs it nothing. It is dropped as too slow only when

- it takes nothing at all for ``stalled_after`` seconds: it stopped reading;
- it stays behind for ``behind_for`` seconds without once catching up: it cannot sustain the
  room's rate, so waiting longer would only grow its backlog;
- its backlog passes ``max_bytes``: whatever the timing, memory stays bounded.

A client that is making progress thus gets ``behind_for`` to catch up, one that is not only
``stalled_after``: a stuck reader is cut within seconds, a slow moment is ridden out.

**Pacing.** When more than half of the clients are behind at once, the room is being fed faster
than its readers take it (a paste of thousands of lines with flood control off). The hub then
stops reading from whoever sends (``hold``) until enough readers have caught up, so the burst
waits in the senders' sockets instead of in every reader's backlog, and nobody is dropped for
it. A minority of slow readers never slows the room: they must keep up with everyone else.
Within one loop turn, too, a sender is held once the turn has taken in ``TURN_INPUT``: the event
loop may otherwise read megabytes before the turn's output is written and anyone can be seen
to fall behind.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class OutboxLimits:
    """How far behind a back-pressured client may fall before it is dropped as too slow."""

    max_bytes: int = 4 << 20
    stalled_after: float = 3.0
    behind_for: float = 15.0


TURN_INPUT = 256 * 1024
"""Characters of input taken in one loop turn before senders are held until the next."""

CHECK_EVERY = 0.5
"""Seconds between two looks at the clients that are behind (only while some are)."""


class Droppable(Protocol):
    """A client's outbox, as judged here (``app.delivery.fanout``'s ``Outbox``): dropped if too slow."""

    def too_slow(self) -> None: ...


class Holdable(Protocol):
    """A connection whose input can be left unread for a while."""

    id: int

    def pause_input(self) -> None: ...

    def resume_input(self) -> None: ...


class Laggards:
    """The clients that are behind, since when, and when they last took something."""

    def __init__(
        self,
        limits: OutboxLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        later: Callable[[float, Callable[[], None]], object] | None = None,
    ) -> None:
        """``later(delay, callback)`` schedules the next look (default: the running loop)."""
        self.limits = limits or OutboxLimits()
        self.clock = clock
        self._later = later or (lambda delay, callback: asyncio.get_running_loop().call_later(delay, callback))
        self.population: Callable[[], int] = lambda: 0
        """How many clients there are (the hub sets it): pacing needs more than half of them behind."""
        self._behind: dict[Droppable, list[float]] = {}
        """Each client that is behind: [when it fell behind, when it last took something]."""
        self._held: dict[int, Holdable] = {}
        """Connections whose input is left unread until the turn ends or the readers catch up."""
        self._taken = 0
        """Characters of input taken this loop turn."""
        self._looking = False

    def __len__(self) -> int:
        return len(self._behind)

    @property
    def congested(self) -> bool:
        """More than half of the clients are behind: the room must wait for its readers."""
        behind = len(self._behind)
        return behind > 0 and behind * 2 > self.population()

    def fell_behind(self, outbox: Droppable) -> None:
        if outbox not in self._behind:
            now = self.clock()
            self._behind[outbox] = [now, now]
            if not self._looking:
                self._looking = True
                self._later(CHECK_EVERY, self._look)

    def progressed(self, outbox: Droppable) -> None:
        """Its transport drained below the low-water mark: it is reading."""
        times = self._behind.get(outbox)
        if times is not None:
            times[1] = self.clock()

    def caught_up(self, outbox: Droppable) -> None:
        """It has everything (or is gone): it no longer counts as behind."""
        if self._behind.pop(outbox, None) is not None and self._held and not self.congested:
            self._release()

    def hold(self, connection: Holdable, size: int) -> None:
        """A connection sent ``size`` characters: stop reading from it while the room is
        congested, or until the next turn if this one has taken in enough already."""
        self._taken += size
        if (self._taken > TURN_INPUT or self.congested) and connection.id not in self._held:
            if not self._held:  # the turn may bring nothing to flush: make sure it ends for them
                self._later(0, self.turn_over)
            self._held[connection.id] = connection
            connection.pause_input()

    def turn_over(self) -> None:
        """A loop turn's output is written: let senders in again unless the room is congested."""
        self._taken = 0
        if self._held and not self.congested:
            self._release()

    def holding(self, connection: Holdable) -> bool:
        """Is this connection's input being left unread until the readers catch up?"""
        return connection.id in self._held

    def forget(self, connection: Holdable) -> None:
        self._held.pop(connection.id, None)

    def _release(self) -> None:
        held, self._held = self._held, {}
        for connection in held.values():
            connection.resume_input()

    def _look(self) -> None:
        """Drop those that stopped reading or cannot keep up; look again while any are behind."""
        now = self.clock()
        limits = self.limits
        for outbox, (since, progress) in list(self._behind.items()):
            if now - progress > limits.stalled_after or now - since > limits.behind_for:
                self._behind.pop(outbox, None)
                outbox.too_slow()
        if self._held and not self.congested:
            self._release()
        if self._behind:
            self._later(CHECK_EVERY, self._look)
        else:
            self._looking = False

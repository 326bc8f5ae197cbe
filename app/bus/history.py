"""Recent public events, in memory: what every read (join replay, ``since=`` resume, ``/history``)
is answered from, without touching the disk.

What people said and who came and went are kept in two windows: the last ``capacity`` messages
(and actions), and a smaller window of presence events (join, leave, nick). A storm of
connections then never pushes the conversation out: the last ``capacity`` messages stay
resumable whatever the churn, and a newcomer's replay shows what was said.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, replace
from operator import attrgetter

from app.domain.events import REDACTED, Event, Kind

PRESENCE_KINDS = frozenset({Kind.JOIN, Kind.LEAVE, Kind.NICK})
"""Kept in the smaller window: notices of who is here, not what was said."""

_by_id = attrgetter("id")


@dataclass(frozen=True, slots=True)
class Loss:
    """Ids ``first``..``last`` that may have been handed out and were never saved: the server
    stopped (a crash, ``kill -9``, a disk that refused its last writes) before writing them."""

    first: int
    last: int


@dataclass(frozen=True, slots=True)
class Gap:
    """What a client resuming after some id cannot get back: ``evicted`` events fell out of the
    window (exactly that many), and up to ``lost`` were lost when the server stopped unexpectedly."""

    evicted: int = 0
    lost: int = 0

    @property
    def missed(self) -> int:
        return self.evicted + self.lost

    def __bool__(self) -> bool:
        return self.missed > 0


class History:
    """The last ``capacity`` messages and the last ``presence`` presence events, in id order."""

    def __init__(self, capacity: int = 500, presence: int = 100) -> None:
        self.capacity = capacity
        self.presence_capacity = min(presence, capacity)
        self._said: deque[Event] = deque(maxlen=capacity)
        self._noted: deque[Event] = deque(maxlen=self.presence_capacity)
        self._evicted_said = 0
        """The newest message that fell out of the window: a resume from before it has a gap."""
        self._losses: list[Loss] = []
        """Ids lost when the server last stopped unexpectedly: a resume from before them is told."""
        self.last_id = 0

    def __len__(self) -> int:
        return len(self._said) + len(self._noted)

    @property
    def messages(self) -> int:
        """Messages (and actions) kept: what /metrics reports as the conversation held."""
        return len(self._said)

    @property
    def presence(self) -> int:
        """Presence events kept."""
        return len(self._noted)

    def restore(self, events: Iterable[Event], losses: Iterable[Loss] = ()) -> None:
        """Put back what a store saved, and the ids it knows were lost. Messages older than the
        oldest one put back may have existed: a resume from before it is told of a gap."""
        for event in events:
            self.append(event)
        self._evicted_said = max(self._evicted_said, self._said[0].id - 1 if self._said else self.last_id)
        self._losses = sorted(losses, key=attrgetter("first"))
        self.last_id = max([self.last_id, *(loss.last for loss in self._losses)])

    def append(self, event: Event) -> None:
        if event.kind in PRESENCE_KINDS:
            self._noted.append(event)
        else:
            said = self._said
            if len(said) == self.capacity and said:
                self._evicted_said = said[0].id
            said.append(event)
        self.last_id = event.id

    def find(self, id: int) -> Event | None:
        """Message ``id`` as held (None when it is not held, is not a message, or was removed)."""
        event = next((e for e in self._said if e.id == id), None)
        if event is None or event.kind not in (Kind.MESSAGE, Kind.ACTION) or event.code == REDACTED:
            return None
        return event

    def redact(self, id: int) -> Event | None:
        """Replace message ``id`` with its redacted self (kept in place, so ids and gaps still count
        right); the message as it was, or None when it is not held (or not a message)."""
        said = self._said
        event = self.find(id)
        if event is None:
            return None
        said[said.index(event)] = replace(event, text="", code=REDACTED)
        return event

    def recent(self, limit: int) -> list[Event]:
        """The last ``limit`` events, oldest first: messages first, presence filling what is left."""
        if limit <= 0:
            return []
        said = list(self._said)[-limit:]
        room = limit - len(said)
        noted = list(self._noted)[-room:] if room > 0 else []
        return list(heapq.merge(said, noted, key=_by_id)) if noted else said

    def after(self, since: int) -> tuple[Gap, list[Event]]:
        """Events with an id above ``since``, and what a client that saw ``since`` cannot get back."""
        if since >= self.last_id:
            return Gap(), []
        said = [e for e in self._said if e.id > since]
        noted = [e for e in self._noted if e.id > since]
        lost = sum(max(0, loss.last - max(since, loss.first - 1)) for loss in self._losses)
        evicted = 0
        if self._evicted_said > since:  # messages after `since` are gone: count every id that is
            first = said[0].id if said else self.last_id + 1
            kept = sum(1 for e in noted if e.id < first)
            lost_below = sum(max(0, min(loss.last, first - 1) - max(since, loss.first - 1)) for loss in self._losses)
            evicted = max(0, first - since - 1 - kept - lost_below)
        return Gap(evicted, lost), list(heapq.merge(said, noted, key=_by_id))

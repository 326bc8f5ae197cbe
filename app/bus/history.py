"""Recent public events, in memory, room by room: what every read (join replay, ``since=`` resume,
``/history``) is answered from, without touching the disk.

Ids increase within each room. In one process they are one sequence for the whole server, so a
room's ids have holes (the other rooms' events); rooms shared through Redis number their own.
Either way each room keeps its own windows and counts its own gaps.

What people said and who came and went are kept in two windows: the last ``capacity`` messages
(and actions), and a smaller window of presence events (join, leave, nick). A storm of
connections then never pushes the conversation out: the last ``capacity`` messages stay
resumable whatever the churn, and a newcomer's replay shows what was said.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from enum import Enum
from operator import attrgetter

from app.domain.events import REDACTED, Event, Kind

PRESENCE_KINDS = frozenset({Kind.JOIN, Kind.LEAVE, Kind.NICK, Kind.ENTER, Kind.PART})
"""Kept in the smaller window: notices of who is here, not what was said."""

_by_id = attrgetter("id")


class Ids(Enum):
    """How events are numbered."""

    SERVER = "one sequence for the whole server"  # a lost id may have been any room's
    ROOM = "each room its own sequence"


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


class RoomHistory:
    """One room's last ``capacity`` messages and last ``presence`` presence events, in id order."""

    def __init__(self, capacity: int = 500, presence: int = 100) -> None:
        self.capacity = capacity
        self.presence_capacity = min(presence, capacity)
        self._said: deque[Event] = deque(maxlen=capacity)
        self._noted: deque[Event] = deque(maxlen=self.presence_capacity)
        self._evicted_said = 0
        """The newest message that fell out of the window: a resume from before it has a gap."""
        self._evicted: deque[int] = deque(maxlen=max(1, capacity + self.presence_capacity))
        """Ids of the events that fell out of the windows lately: a gap counts this room's own."""
        self._evicted_floor = 0
        """Every event above this id that fell out is in ``_evicted``; below it only ids are known."""
        self.skipped: list[Loss] = []
        """Ids of this room a shared room lost before this process read them (Redis restarted
        empty): a resume from before them is told. Only those above the oldest event kept."""
        self.last_id = 0

    def __len__(self) -> int:
        return len(self._said) + len(self._noted)

    @property
    def messages(self) -> int:
        return len(self._said)

    @property
    def presence(self) -> int:
        return len(self._noted)

    def restored(self) -> None:
        """What was put back is all there is: messages older than the oldest may have existed."""
        self._evicted_said = max(self._evicted_said, self._said[0].id - 1 if self._said else self.last_id)
        self._evicted_floor = max(self._evicted_floor, self._evicted_said)

    def append(self, event: Event) -> None:
        window = self._noted if event.kind in PRESENCE_KINDS else self._said
        if window.maxlen and len(window) == window.maxlen:
            if window is self._said:
                self._evicted_said = window[0].id
            if len(self._evicted) == self._evicted.maxlen:
                self._evicted_floor = self._evicted[0]
            self._evicted.append(window[0].id)
        window.append(event)
        self.last_id = event.id

    def skip(self, loss: Loss) -> None:
        """The room's ids jumped over ``loss``: its events are gone for good."""
        oldest = min((window[0].id for window in (self._said, self._noted) if window), default=loss.first)
        self.skipped = [kept for kept in self.skipped if kept.last >= oldest] + [loss]

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

    def events(self) -> Iterator[Event]:
        """Everything kept, in id order."""
        return heapq.merge(self._said, self._noted, key=_by_id)

    def recent(self, limit: int) -> list[Event]:
        """The last ``limit`` events, oldest first: messages first, presence filling what is left."""
        if limit <= 0:
            return []
        said = list(self._said)[-limit:]
        room = limit - len(said)
        noted = list(self._noted)[-room:] if room > 0 else []
        return list(heapq.merge(said, noted, key=_by_id)) if noted else said

    def after(self, since: int, last_id: int, losses: list[Loss]) -> tuple[Gap, list[Event]]:
        """Events with an id above ``since``, and what a client that saw ``since`` cannot get back
        (``last_id`` and ``losses`` are the server's: a lost id may have been any room's)."""
        if since >= last_id:
            return Gap(), []
        said = [e for e in self._said if e.id > since]
        noted = [e for e in self._noted if e.id > since]
        lost = sum(max(0, loss.last - max(since, loss.first - 1)) for loss in losses)
        evicted = 0
        if self._evicted_said > since:  # messages after `since` are gone
            first = said[0].id if said else last_id + 1
            if since >= self._evicted_floor:  # this room's own evictions are all known: count them
                evicted = sum(1 for id in self._evicted if since < id < first)
            else:  # count every id that is neither kept nor lost (exact when one room has them all)
                kept = sum(1 for e in noted if e.id < first)
                lost_below = sum(max(0, min(loss.last, first - 1) - max(since, loss.first - 1)) for loss in losses)
                evicted = max(0, first - since - 1 - kept - lost_below)
        return Gap(evicted, lost), list(heapq.merge(said, noted, key=_by_id))


class History:
    """Every room's recent events. The default room keeps ``capacity`` messages; the others
    ``room_capacity`` each (rooms are bounded in number by the room registry, which forgets an
    empty room's history to make space for a new one)."""

    def __init__(
        self,
        capacity: int = 500,
        presence: int = 100,
        room_capacity: int | None = None,
        default: str = "#main",
        ids: Ids = Ids.SERVER,
    ) -> None:
        self.capacity = capacity
        self.ids = ids
        self.presence_capacity = min(presence, capacity)
        self.room_capacity = capacity if room_capacity is None else min(room_capacity, capacity)
        self.default = default
        self._rooms: dict[str, RoomHistory] = {}
        self._losses: list[Loss] = []
        """Ids lost when the server last stopped unexpectedly: a resume from before them is told."""
        self.last_id = 0
        """The highest id held in any room."""

    def __len__(self) -> int:
        return sum(len(room) for room in self._rooms.values())

    @property
    def messages(self) -> int:
        """Messages (and actions) kept: what /metrics reports as the conversation held."""
        return sum(room.messages for room in self._rooms.values())

    @property
    def presence(self) -> int:
        """Presence events kept."""
        return sum(room.presence for room in self._rooms.values())

    def capacity_of(self, room: str) -> int:
        return self.capacity if room == self.default else self.room_capacity

    def room(self, name: str | None = None) -> RoomHistory:
        """The room's history, made empty on first use."""
        name = name or self.default
        kept = self._rooms.get(name)
        if kept is None:
            capacity = self.capacity_of(name)
            kept = self._rooms[name] = RoomHistory(capacity, min(self.presence_capacity, capacity))
        return kept

    def rooms(self) -> list[str]:
        """The rooms that have history."""
        return [name for name, kept in self._rooms.items() if len(kept)]

    def forget(self, name: str) -> None:
        self._rooms.pop(name, None)

    def restore(self, events: Iterable[Event], losses: Iterable[Loss] = ()) -> None:
        """Put back what a store saved, and the ids it knows were lost. Messages older than the
        oldest one put back may have existed: a resume from before it is told of a gap."""
        for event in events:
            self.append(event)
        for kept in self._rooms.values():
            kept.restored()
        self.room(self.default).restored()
        self._losses = sorted(losses, key=attrgetter("first"))
        self.last_id = max([self.last_id, *(loss.last for loss in self._losses)])

    def restore_room(self, name: str, events: Iterable[Event]) -> None:
        """Put back the earlier events of a room this process learns of after it started."""
        kept = self.room(name)
        for event in events:
            kept.append(event)
            self.last_id = max(self.last_id, event.id)
        kept.restored()

    def append(self, event: Event) -> None:
        self.room(event.room).append(event)
        self.last_id = max(self.last_id, event.id)

    def find(self, id: int, room: str) -> Event | None:
        """Message ``id`` of ``room`` (None: not held, or removed)."""
        kept = self._rooms.get(room or self.default)
        return kept.find(id) if kept is not None else None

    def redact(self, id: int, room: str) -> None:
        """Remove message ``id`` of ``room`` (see ``RoomHistory.redact``)."""
        kept = self._rooms.get(room or self.default)
        if kept is not None:
            kept.redact(id)

    def recent(self, limit: int, room: str | None = None) -> list[Event]:
        """The room's last ``limit`` events, oldest first (see ``RoomHistory.recent``)."""
        kept = self._rooms.get(room or self.default)
        return kept.recent(limit) if kept is not None else []

    def after(self, since: int, room: str | None = None) -> tuple[Gap, list[Event]]:
        """The room's events with an id above ``since``, and what a client that saw ``since`` in
        that room cannot get back."""
        kept = self.room(room)
        if self.ids is Ids.ROOM:
            return kept.after(since, kept.last_id, kept.skipped)
        return kept.after(since, self.last_id, self._losses)

"""Rooms as bookkeeping: their names, who is in which, topics, founders, and each member's current room.

No events here: ``app.domain.room`` turns commands into outcomes and keeps this up to date.
A room exists while someone is in it and, once empty, for as long as its history is kept.

Rooms are a budgeted resource, so that nobody can make rooms until others' history is erased:
the registry holds at most ``max_rooms``; making a new one at the limit forgets an empty room
(its history with it), but only one nobody ever spoke in (those go first), one whose only
speaker was the guest session that made it and that has been quiet for ``guest_expiry``, or
any room quiet for ``expiry``. With none of those, the new room is refused (``rooms_full``).
Whoever makes a room pays for it from their ``Maker`` budget (per connection and address), and
the rooms one address or identity has made are capped (``per_maker``). The default room is never
forgotten.
"""

from __future__ import annotations

import re
import time
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import Enum
from typing import NewType

from app.domain.events import RoomInfo

NAME = re.compile(r"#?([A-Za-z0-9_-]{1,32})")
"""A room name as typed: ``#`` (optional where a room is expected) and 1-32 letters, digits, - or _."""

ROOMS_LISTED = 50
"""The most rooms a /rooms reply lists; the total is always given."""

MAX_TOPIC = 300

DAY = 86_400.0


RoomName = NewType("RoomName", str)
"""A room's name in its one spelling: made only by ``room_name``, where a name enters the server
(a frame's ``room``, a URL's ``rooms=``, a command's ``#room``, the shared bus), so every rule
looked up by room sees one spelling."""


class RoomError(ValueError):
    """A room someone cannot have (a bad name, the server's limit); the message says why and
    ``code`` tells a client which limit it met."""

    def __init__(self, message: str, code: str = "room_refused") -> None:
        super().__init__(message)
        self.code = code


class Voice(Enum):
    """Who has spoken in a room: how long its history is worth keeping once it is empty."""

    SILENT = "silent"
    """Nobody ever said anything: nothing to keep, so the first to be freed."""
    MAKER = "maker"
    """Only the guest session that made it: kept for ``guest_expiry``."""
    PEOPLE = "people"
    """Anyone else (or a registered maker): kept for ``expiry``."""


@dataclass(frozen=True, slots=True)
class Maker:
    """Who is making a room, as its rules need to know them."""

    key: str | None = None
    """What the rooms they made count against: their address budget or registered identity
    (None: exempt, as another process's member or a trusted peer is)."""
    session: int | None = None
    """Their connection while they are a guest (None: registered), so a room only they spoke
    in expires sooner."""
    afford: Callable[[], bool] = lambda: True
    """Spend their room-making budget (per connection and per address): False when it is spent."""


@dataclass(frozen=True, slots=True)
class RoomLimits:
    max_rooms: int = 1000
    """Rooms kept at once, occupied or empty with their history."""
    per_client: int = 20
    """Rooms one connection may be in at once."""
    per_maker: int = 20
    """Rooms made by one address or identity that may exist at once."""
    expiry: float = 30 * DAY
    """Seconds an empty room with history must have been quiet before a new room may replace it."""
    guest_expiry: float = DAY
    """The same for a room whose only speaker was the guest session that made it."""


def room_name(text: str) -> RoomName:
    """The room's name in its one spelling (``#`` and lower case): rooms are case-insensitive."""
    match = NAME.fullmatch(text.strip())
    if match is None:
        raise RoomError(f"'{text.strip()[:40]}' is not a room name: # and 1 to 32 letters, digits, - or _")
    return RoomName("#" + match.group(1).lower())


def room_names(typed: Iterable[str]) -> list[RoomName]:
    """The room names among ``typed``, each in its one spelling (the rest are no rooms: skipped)."""
    names = []
    for text in typed:
        try:
            names.append(room_name(text))
        except RoomError:
            continue
    return names


@dataclass(slots=True)
class RoomState:
    name: RoomName
    members: set[int] = field(default_factory=set)
    """Connections of this process in the room."""
    remote: set[str] = field(default_factory=set)
    """Nick keys of other processes' members in the room, as their events tell."""
    made_by: int | None = None
    """The connection of this process that made the room (first joined it; None if none did): the
    moderation desk makes whoever that is its founder (``app.hub.standing``'s ``claim``), whatever its
    nick by then; a stranger who takes the maker's nick once it is gone gets nothing."""
    topic: str = ""
    maker: str | None = None
    """What the room counts against in ``per_maker`` (see ``Maker.key``)."""
    session: int | None = None
    """The guest connection that made it, whose speaking alone keeps it only ``guest_expiry``."""
    voice: Voice = Voice.SILENT
    active: float = 0.0
    """When something last happened in it (wall-clock seconds, as events are stamped)."""

    @property
    def population(self) -> int:
        return len(self.members) + len(self.remote)

    @property
    def info(self) -> RoomInfo:
        return RoomInfo(self.name, self.population, self.topic)


class Rooms:
    """Every room this process knows, and which rooms each local member is in."""

    def __init__(
        self, default: str = "#main", limits: RoomLimits | None = None, clock: Callable[[], float] = time.time
    ) -> None:
        self.default = room_name(default)
        self.limits = limits or RoomLimits()
        self.clock = clock
        self._rooms: OrderedDict[str, RoomState] = OrderedDict()
        """Least recently active first: the order in which empty rooms are considered for replacing."""
        self._of: dict[int, list[str]] = {}
        """Each member's rooms; the last is its current room."""
        self._made: Counter[str] = Counter()
        """How many of the rooms each maker (``Maker.key``) made still exist: ``per_maker``."""
        self._rooms[self.default] = RoomState(self.default, voice=Voice.PEOPLE, active=clock())

    def __contains__(self, name: object) -> bool:
        return name in self._rooms

    def __len__(self) -> int:
        return len(self._rooms)

    def get(self, name: RoomName) -> RoomState | None:
        return self._rooms.get(name)

    def of(self, member: int) -> list[RoomName]:
        """The member's rooms, current last."""
        return self._of.get(member, [])  # type: ignore[return-value]  # each name came from room_name

    def current(self, member: int) -> RoomName:
        rooms = self._of.get(member)
        return rooms[-1] if rooms else self.default

    def touch(self, name: RoomName) -> None:
        """Something happened in the room: it is the last to be forgotten."""
        room = self._rooms.get(name)
        if room is not None:
            room.active = self.clock()
            self._rooms.move_to_end(name)

    def spoke(self, name: str, member: int | None = None) -> None:
        """Someone said something in the room (``member``: who, if it is a local member); its
        history is now worth keeping."""
        room = self._rooms.get(name)
        if room is None:
            return
        self.touch(name)
        if room.voice is not Voice.PEOPLE:
            alone = member is not None and member == room.session
            room.voice = Voice.MAKER if alone else Voice.PEOPLE

    def restore(self, name: str, voice: Voice, active: float) -> None:
        """A room found in history at start-up: who spoke in it and when it was last active.
        RoomError when the rooms it would have to replace are all worth keeping."""
        room, _ = self.make(name)
        room.voice, room.active = voice, active

    def listing(self, limit: int = ROOMS_LISTED) -> list[RoomInfo]:
        """Rooms with people in them, biggest first (then by name), at most ``limit``."""
        occupied = [room.info for room in self._rooms.values() if room.population]
        occupied.sort(key=lambda info: (-info.members, info.name))
        return occupied[:limit]

    @property
    def occupied(self) -> int:
        return sum(1 for room in self._rooms.values() if room.population)

    def make(self, name: str, maker: Maker | None = None) -> tuple[RoomState, str | None]:
        """The room called ``name``, made by ``maker`` if new, and the empty
        room it replaced (None if none). RoomError, with its code, when the room may not be made."""
        room = self._rooms.get(name)
        if room is not None:
            return room, None
        maker = maker or Maker()
        limits, now = self.limits, self.clock()
        forgotten = None
        if maker.key is not None and self._made[maker.key] >= limits.per_maker:
            forgotten = self._expendable(now, maker.key)
            if forgotten is None:
                text = f"{limits.per_maker} rooms made from your address are still in use, the most allowed: join one"
                raise RoomError(text, "rooms_made")
        elif len(self._rooms) >= limits.max_rooms:
            forgotten = self._expendable(now)
            if forgotten is None:
                text = f"the server has its limit of {limits.max_rooms} rooms, all in use: join one of them (/rooms)"
                raise RoomError(text, "rooms_full")
        if not maker.afford():
            text = "you are making rooms too fast: wait a minute, or join one that exists (/rooms)"
            raise RoomError(text, "room_rate")
        if forgotten is not None:
            self._drop(forgotten)
        room = self._rooms[name] = RoomState(name, maker=maker.key, session=maker.session, active=now)
        if maker.key is not None:
            self._made[maker.key] += 1
        return room, forgotten

    def _expendable(self, now: float, maker: str | None = None) -> str | None:
        """The empty room a new one may replace (only among ``maker``'s, if given): the first never
        spoken in, else the quietest whose history has expired; None if every room is worth keeping."""
        expired = None
        for name, room in self._rooms.items():
            if room.population or name == self.default or (maker is not None and room.maker != maker):
                continue
            if room.voice is Voice.SILENT:
                return name
            keep = self.limits.guest_expiry if room.voice is Voice.MAKER else self.limits.expiry
            if expired is None and now - room.active >= keep:
                expired = name
        return expired

    def _drop(self, name: str) -> None:
        room = self._rooms.pop(name)
        if room.maker is not None:
            self._made[room.maker] -= 1
            if self._made[room.maker] <= 0:
                del self._made[room.maker]

    def enter(self, member: int, name: str, maker: Maker | None = None) -> tuple[RoomState, str | None]:
        """Put the member in the room (made by ``maker`` if needed) and make it current. Returns
        the room and the room forgotten to make space; RoomError at a limit."""
        rooms = self._of.setdefault(member, [])
        if name in rooms:
            rooms.remove(name)
            rooms.append(name)
            return self._rooms[name], None
        if len(rooms) >= self.limits.per_client:
            raise RoomError(f"you are in {len(rooms)} rooms, the most one may be in: /part one first")
        new = name not in self._rooms
        try:
            room, forgotten = self.make(name, maker)
        except RoomError:
            if not rooms:
                del self._of[member]
            raise
        if new:
            room.made_by = member
        room.members.add(member)
        rooms.append(name)
        self.touch(name)
        return room, forgotten

    def exit(self, member: int, name: RoomName) -> None:
        """Take the member out of one room; its current room becomes the one it was in before."""
        rooms = self._of.get(member)
        if rooms is None or name not in rooms:
            return
        rooms.remove(name)
        if not rooms:
            del self._of[member]
        room = self._rooms.get(name)
        if room is not None:
            room.members.discard(member)
            self.touch(name)

    def remove(self, member: int) -> list[RoomName]:
        """Take the member out of every room (it left the server); the rooms it was in."""
        rooms = self._of.pop(member, [])
        for name in rooms:
            room = self._rooms.get(name)
            if room is not None:
                room.members.discard(member)
        return rooms

    # -- other processes' members ------------------------------------------------------------

    def remote_enter(self, name: RoomName, key: str) -> None:
        """Another process's member is in the room (made here too if new to this process, by no
        one of this process: nobody here founds it by arriving next)."""
        try:
            room, _ = self.make(name)
        except RoomError:  # full here: this process just does not list them in a room it cannot hold
            return
        room.remote.add(key)

    def remote_exit(self, name: RoomName, key: str) -> None:
        room = self._rooms.get(name)
        if room is not None:
            room.remote.discard(key)

    def reset_remote(self, rooms: dict[RoomName, set[str]]) -> None:
        """A fresh snapshot of which rooms other processes' members are in (room name -> nick keys)."""
        for room in self._rooms.values():
            room.remote.clear()
        for name, keys in rooms.items():
            for key in keys:
                self.remote_enter(name, key)

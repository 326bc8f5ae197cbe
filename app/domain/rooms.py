"""Rooms as bookkeeping: their names, who is in which, topics, founders, and each member's current room.

No events here: ``app.domain.room`` turns commands into outcomes and keeps this up to date.
A room exists while someone is in it and, once empty, for as long as its history is kept: the
registry holds at most ``max_rooms``, and making a new one at the limit forgets the empty room
that has been quiet longest (its history with it). The default room is never forgotten.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import NewType

from app.domain.events import RoomInfo

NAME = re.compile(r"#?([A-Za-z0-9_-]{1,32})")
"""A room name as typed: ``#`` (optional where a room is expected) and 1-32 letters, digits, - or _."""

ROOMS_LISTED = 50
"""The most rooms a /rooms reply lists; the total is always given."""

MAX_TOPIC = 300


RoomName = NewType("RoomName", str)
"""A room's name in its one spelling: made only by ``room_name``, where a name enters the server
(a frame's ``room``, a URL's ``rooms=``, a command's ``#room``, the shared bus), so every rule
looked up by room sees one spelling."""


class RoomError(ValueError):
    """A room someone cannot have (a bad name, the server's limit); the message says why."""


def room_name(text: str) -> RoomName:
    """The room's name in its one spelling (``#`` and lower case): rooms are case-insensitive."""
    match = NAME.fullmatch(text.strip())
    if match is None:
        raise RoomError(f"'{text.strip()[:40]}' is not a room name: # and 1 to 32 letters, digits, - or _")
    return RoomName("#" + match.group(1).lower())


@dataclass(slots=True)
class RoomState:
    name: RoomName
    founder: str
    """The nick of the member of this process who made the room (first joined it; "" if none did):
    the moderation desk makes whoever that is its founder (``app.standing``'s ``claim``)."""
    members: set[int] = field(default_factory=set)
    """Connections of this process in the room."""
    remote: set[str] = field(default_factory=set)
    """Nick keys of other processes' members in the room, as their events tell."""
    topic: str = ""

    @property
    def population(self) -> int:
        return len(self.members) + len(self.remote)

    @property
    def info(self) -> RoomInfo:
        return RoomInfo(self.name, self.population, self.topic)


class Rooms:
    """Every room this process knows, and which rooms each local member is in."""

    def __init__(self, default: str = "#main", max_rooms: int = 1000, per_client: int = 20) -> None:
        self.default = room_name(default)
        self.max_rooms = max(1, max_rooms)
        self.per_client = max(1, per_client)
        self._rooms: OrderedDict[str, RoomState] = OrderedDict()
        """Least recently active first: the first empty one is what a new room replaces at the limit."""
        self._of: dict[int, list[str]] = {}
        """Each member's rooms; the last is its current room."""
        self._rooms[self.default] = RoomState(self.default, "")

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
        if name in self._rooms:
            self._rooms.move_to_end(name)

    def listing(self, limit: int = ROOMS_LISTED) -> list[RoomInfo]:
        """Rooms with people in them, biggest first (then by name), at most ``limit``."""
        occupied = [room.info for room in self._rooms.values() if room.population]
        occupied.sort(key=lambda info: (-info.members, info.name))
        return occupied[:limit]

    @property
    def occupied(self) -> int:
        return sum(1 for room in self._rooms.values() if room.population)

    def make(self, name: str, founder: str) -> tuple[RoomState, str | None]:
        """The room called ``name``, made for ``founder`` if new, and the empty room it replaced
        (None if none): RoomError when every room of the limit has people in it."""
        room = self._rooms.get(name)
        if room is not None:
            return room, None
        forgotten = None
        if len(self._rooms) >= self.max_rooms:
            forgotten = next((n for n, r in self._rooms.items() if not r.population and n != self.default), None)
            if forgotten is None:
                raise RoomError(f"the server has its limit of {self.max_rooms} rooms: join one of them (/rooms)")
            del self._rooms[forgotten]
        room = self._rooms[name] = RoomState(name, founder)
        return room, forgotten

    def enter(self, member: int, name: str, founder: str) -> tuple[RoomState, str | None]:
        """Put the member in the room (made if needed) and make it current. Returns the room and
        the room forgotten to make space; RoomError at a limit."""
        rooms = self._of.setdefault(member, [])
        if name in rooms:
            rooms.remove(name)
            rooms.append(name)
            return self._rooms[name], None
        if len(rooms) >= self.per_client:
            raise RoomError(f"you are in {len(rooms)} rooms, the most one may be in: /part one first")
        room, forgotten = self.make(name, founder)
        room.members.add(member)
        rooms.append(name)
        self._rooms.move_to_end(name)
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
            self._rooms.move_to_end(name)

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
            room, _ = self.make(name, "")
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

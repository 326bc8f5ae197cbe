"""The events a room produces, and the instructions it gives the layer that owns the sockets."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from app.domain.goodbye import Goodbye


class Gateway(StrEnum):
    """The front door a user came in by; shown to others as a badge."""

    WEB = "web"
    TELNET = "telnet"
    TLS = "tls"
    SSH = "ssh"


class Kind(StrEnum):
    """Every event type on the wire. Public kinds get an id and a timestamp from the bus."""

    WELCOME = "welcome"
    MESSAGE = "message"
    ACTION = "action"
    PRIVATE = "private"
    JOIN = "join"
    LEAVE = "leave"
    NICK = "nick"
    SYSTEM = "system"
    ERROR = "error"
    USERS = "users"
    GAP = "gap"
    PRESENCE = "presence"
    ENTER = "enter"
    """Someone joined a room with /join (``join`` is arriving on the server)."""
    PART = "part"
    """Someone left a room with /part (``leave`` is leaving the server)."""
    TOPIC = "topic"
    ROOM = "room"
    """To one client: the room it is now in (or now current), with its topic and members."""
    ROOMS = "rooms"
    """To one client: the rooms there are, biggest first (reply to /rooms)."""
    MODERATION = "moderation"  # an operator's action, announced to the room (``code`` names it)
    IDENTIFIED = "identified"  # to one user: they own a registered nick (``to`` carries the page's token)


REDACTED = "redacted"
"""The code of a message an operator removed: it keeps its place (and id), without its text."""


@dataclass(frozen=True, slots=True)
class User:
    """One entry of the presence list."""

    nick: str
    gateway: Gateway
    op: bool = False
    """An operator here: shown as a badge."""


@dataclass(frozen=True, slots=True)
class RoomInfo:
    """One line of the room list: a room's name, how many are in it, and its topic."""

    name: str
    members: int
    topic: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened in the room, or a reply meant for one user.

    One flat shape for every kind keeps the codecs simple: a field that does not apply to a
    kind stays at its empty default. ``origin`` is the connection that caused the event (0 for
    the server) so the gateways can mark a sender's own message and skip the TCP self-echo.
    Connection ids are per process, so with several processes ``process`` says whose
    connection ``origin`` is ("" when there is only one process).
    ``users`` is who is here (welcome, users) or who came (presence), ``left`` who went
    (presence), and ``total`` how many are here when the lists are only a sample.
    ``room`` is the room the event happened in ("" for what is not about one room); ``spans`` is
    every room one nick change or departure is published in (each room gets an event of its own,
    with its own id); ``rooms`` is the room list of a welcome or /rooms reply. ``aside`` marks a
    room event shown to a reader whose current room is another one (terminals prefix the room).
    """

    kind: Kind
    nick: str = ""
    text: str = ""
    id: int = 0
    ts: float = 0.0
    origin: int = 0
    old: str = ""
    to: str = ""
    gateway: Gateway | None = None
    users: tuple[User, ...] = ()
    code: str = ""
    history: bool = False
    missed: int = 0
    total: int = 0
    left: tuple[User, ...] = ()
    process: str = ""
    room: str = ""
    spans: tuple[str, ...] = ()
    rooms: tuple[RoomInfo, ...] = ()
    aside: bool = False

    @property
    def completes(self) -> bool:
        """Whether this is the last of the events one change publishes, one per room of ``spans``
        (a departure's last leave, a nick change's last room): the change is whole once it is out."""
        return not self.spans or self.room == self.spans[-1]

    def stamped(self, id: int, ts: float) -> Event:
        """The same event with the id and time the bus gave it."""
        return replace(self, id=id, ts=ts)

    def replayed(self) -> Event:
        """The same event, marked as coming from history rather than happening now."""
        return replace(self, history=True)


@dataclass(frozen=True, slots=True)
class Publish:
    """Send this public event to everyone, through the bus that gives it its place in the order."""

    event: Event


@dataclass(frozen=True, slots=True)
class Tell:
    """Send this event to one member only."""

    member: int
    event: Event


@dataclass(frozen=True, slots=True)
class ShowHistory:
    """Show this member the last ``count`` public events of ``room`` (the hub bounds the count)."""

    member: int
    count: int
    room: str


@dataclass(frozen=True, slots=True)
class Seat:
    """This member's rooms or current room changed: move its connection's subscriptions, and
    replay ``replay`` (a room it just joined) to it first."""

    member: int
    replay: str = ""


@dataclass(frozen=True, slots=True)
class Forward:
    """Send this private event to a member connected to another process."""

    process: str
    member: int
    event: Event


@dataclass(frozen=True, slots=True)
class Disconnect:
    """Close this member's connection, after telling them why; others see ``reason``."""

    member: int
    goodbye: Goodbye
    reason: str = ""


@dataclass(frozen=True, slots=True)
class Forget:
    """This empty room was forgotten to make space for a new one: drop its history."""

    room: str


Outcome = Publish | Tell | Forward | ShowHistory | Disconnect | Seat | Forget

"""Moderation rules: who may do what, how long a sanction lasts, and whom a ban covers.

Plain synchronous Python, like the rest of the domain: the moderation desk in ``app/hub/desk.py``
asks these rules, stores what they decide and carries it out.
"""

from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from enum import Enum, IntEnum, StrEnum
from typing import Any

from app.domain.addresses import Network
from app.domain.nicks import NickError, nick_key, normalize_nick
from app.domain.people import Person
from app.domain.stored import Stored
from app.domain.text import clean_text

MAIN_ROOM = "#main"
"""The room everyone is in until there are several; it has no founder."""

NICK_BAN_ADDRESS_HOLD = 24 * 3600.0
"""How long a ban by nick also covers the address its holder came from: a nick costs nothing to
change, an address a little more; but addresses are reassigned (phones, shared NAT), so after a day
the address goes back to whoever has it then while the nick stays banned for the ban's length."""

_DURATION = re.compile(r"(\d{1,6})([smhd])", re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
PERMANENT = "perm"


class Role(IntEnum):
    """How much someone may do in a room; higher includes lower."""

    MEMBER = 0
    ROOM_OPERATOR = 1  # someone a room operator opped there (a registered nick)
    FOUNDER = 2  # the room's owner: its other operators cannot act on them
    SERVER_OPERATOR = 3  # proved the server's operator password: above everyone, in every room


class Action(StrEnum):
    """A moderation action, by the command that takes it; its value is its name in the audit log."""

    OPER = "oper"
    OP = "op"
    DEOP = "deop"
    KICK = "kick"
    REMOVE = "remove"
    BAN = "ban"
    UNBAN = "unban"
    MUTE = "mute"
    UNMUTE = "unmute"
    SLOW = "slow"
    LOCK = "lock"
    UNLOCK = "unlock"
    INVITE = "invite"
    TOPIC_LOCK = "topic_lock"
    TOPIC_UNLOCK = "topic_unlock"
    REDACT = "redact"
    ROOMBAN = "roomban"
    ROOMUNBAN = "roomunban"


class Speech(Enum):
    """What a line of input says, as mutes and slow mode see it."""

    NONE = "none"  # a command that says nothing
    ROOM = "room"  # a message or action to the room: slow mode counts it
    PRIVATE = "private"  # a private message: a mute holds it back, slow mode does not


class BanKind(StrEnum):
    NICK = "nick"
    ADDRESS = "address"  # one address, or a network in CIDR notation


class ArgumentError(ValueError):
    """A command's arguments make no sense; the message is the usage line shown to the user."""


def parse_duration(token: str) -> float | None:
    """Seconds for ``30s``/``10m``/``2h``/``7d``, None for ``perm``; ArgumentError if ``token`` is not a duration."""
    token = token.lower()
    if token == PERMANENT:
        return None
    match = _DURATION.fullmatch(token)
    if match is None or int(match[1]) == 0:
        raise ArgumentError(f"{token!r} is not a duration (30s, 10m, 2h, 7d or perm)")
    return float(int(match[1]) * _UNIT_SECONDS[match[2]])


def is_duration(token: str) -> bool:
    try:
        parse_duration(token)
    except ArgumentError:
        return False
    return True


def describe_duration(seconds: float | None) -> str:
    """``seconds`` as people say it: "permanent", "10 minutes", "2 hours"."""
    if seconds is None:
        return "permanent"
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'s' if count != 1 else ''}"
    count = int(seconds)
    return f"{count} second{'s' if count != 1 else ''}"


def parse_network(text: str) -> Network | None:
    """An address or CIDR network (an IPv4-mapped IPv6 address as its IPv4 self); None if ``text`` is neither."""
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    mapped = getattr(network.network_address, "ipv4_mapped", None)
    if mapped is not None and network.prefixlen == 128:
        return ipaddress.ip_network(mapped)
    return network


@dataclass(frozen=True, slots=True)
class Ban(Stored):
    """One ban: a nick (by its key) or an address range, until a wall-clock time (None: for ever)."""

    kind: BanKind
    mask: str
    """The nick's key, or the network in CIDR form (``203.0.113.7/32``)."""
    label: str
    """What the operator typed (the nick as written), for lists and notices."""
    reason: str
    by: str
    created: float
    until: float | None
    cause: str = ""
    """For the ban on the address a nick-banned client came from: that nick's key (lifted with it)."""

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until

    def covers(self, address: str | None, key: str | None) -> bool:
        """Whether a client at ``address`` (None: exempt from address bans) using the nick key ``key`` is banned."""
        if self.kind is BanKind.NICK:
            return key is not None and key == self.mask
        if address is None:
            return False
        # A budget is one IPv4 address or one IPv6 /64 (``app.domain.addresses``): a ban on any
        # address in that /64 covers all of it, as one person holds it all.
        budget, banned = parse_network(address), ipaddress.ip_network(self.mask)
        return budget is not None and budget.version == banned.version and budget.overlaps(banned)  # type: ignore[arg-type]

    def expiry(self, now: float) -> str:
        """ "permanent" or "for 2 hours more", rounded to what a person needs."""
        if self.until is None:
            return "permanent"
        return f"{describe_remaining(self.until - now)} left"

    def notice(self, now: float) -> str:
        """What a banned client is told, with the reason and how long it lasts."""
        return f"{self.reason or 'no reason given'}; {self.expiry(now)}"

    @classmethod
    def decoded(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "kind": BanKind(data["kind"])}


def describe_remaining(seconds: float) -> str:
    """Time left, rounded up to what a person needs ("2 hours", not "1 hour 59 minutes 58 seconds")."""
    return describe_duration(_round_up(seconds))


def _round_up(seconds: float) -> float:
    for size in (86400, 3600, 60):
        if seconds > size:
            return -(-seconds // size) * size
    return float(max(1, math.ceil(seconds)))


@dataclass(frozen=True, slots=True)
class BanRequest:
    """``/ban TARGET [DURATION] [reason]``, read: a DURATION is recognised by its form, so
    ``/ban spammo spamming`` is a permanent ban with a reason."""

    kind: BanKind
    mask: str
    label: str
    duration: float | None
    reason: str

    @classmethod
    def parse(cls, rest: str) -> BanRequest:
        target, _, tail = rest.strip().partition(" ")
        if not target:
            raise ArgumentError("Usage: /ban NICK|ADDRESS|CIDR [DURATION] [reason] — DURATION: 30s, 10m, 2h, 7d, perm")
        duration, reason = take_duration(tail, default=None)
        network = parse_network(target)
        if network is not None:
            return cls(BanKind.ADDRESS, str(network), target, duration, reason)
        try:
            nick = normalize_nick(target)
        except NickError:
            raise ArgumentError(f"{target!r} is neither a nick, an address nor a network") from None
        return cls(BanKind.NICK, nick_key(nick), nick, duration, reason)

    def ban(self, by: str, now: float) -> Ban:
        until = None if self.duration is None else now + self.duration
        return Ban(self.kind, self.mask, self.label, self.reason, by, now, until)


def take_duration(text: str, default: float | None) -> tuple[float | None, str]:
    """Split an optional leading DURATION off ``text``: (seconds or None for ever, the rest)."""
    first, _, rest = text.strip().partition(" ")
    if first and is_duration(first):
        return parse_duration(first), rest.strip()
    return default, text.strip()


def address_ban(address: str, nick: str, ban: Ban) -> Ban:
    """The ban on the address a nick-banned client came from: as long as the nick's, at most
    ``NICK_BAN_ADDRESS_HOLD``."""
    hold = ban.created + NICK_BAN_ADDRESS_HOLD
    until = hold if ban.until is None else min(ban.until, hold)
    network = str(parse_network(address))
    return Ban(BanKind.ADDRESS, network, f"{address} (as {nick})", ban.reason, ban.by, ban.created, until, ban.mask)


def lifted(bans: dict[str, Ban], target: str) -> list[str]:
    """The keys of the bans ``/unban target`` lifts: the ban on that nick, address or network, and
    with a nick's ban the ban on the address its holder came from."""
    target = target.strip()
    if not target:
        return []
    network = parse_network(target)
    mask = str(network) if network is not None else nick_key(target)
    return [key for key, ban in bans.items() if mask in (ban.mask, ban.cause) or target == ban.label]


def find_ban(bans: dict[str, Ban], address: str | None, nick: str | None, now: float) -> Ban | None:
    """The first active ban covering a client at ``address`` (None: exempt) using ``nick`` (None: none yet)."""
    key = nick_key(nick) if nick else None
    for ban in bans.values():
        if ban.active(now) and ban.covers(address, key):
            return ban
    return None


@dataclass(frozen=True, slots=True)
class Sanction(Stored):
    """A person held in one room until a wall-clock time (None: until lifted): a mute (they read
    but do not speak) or a room ban (they cannot come in)."""

    room: str
    person: Person
    by: str
    until: float | None
    reason: str = ""

    @property
    def key(self) -> str:
        return f"{self.room} {self.person.key}"

    def active(self, now: float) -> bool:
        return self.until is None or now < self.until

    def holds(self, room: str, person: Person, now: float) -> bool:
        return self.room == room and self.active(now) and self.person.covers(person)

    def left(self, now: float) -> str:
        """ "until lifted" or "10 minutes more"."""
        return "until lifted" if self.until is None else f"{describe_remaining(self.until - now)} more"

    @classmethod
    def decoded(cls, data: dict[str, Any]) -> dict[str, Any]:
        if "person" not in data:  # written before sanctions named people: it named a guest's nick
            data = {key: value for key, value in data.items() if key not in ("mask", "nick")} | {
                "person": {"nick": data["nick"]}
            }
        return {**data, "person": Person(**data["person"])}


def held(sanctions: dict[str, Sanction], room: str, person: Person, now: float) -> Sanction | None:
    """The first sanction holding ``person`` in ``room``, if any."""
    return next((s for s in sanctions.values() if s.holds(room, person, now)), None)


def naming(sanctions: dict[str, Sanction], room: str, person: Person | None, nick: str) -> list[str]:
    """The keys of ``room``'s sanctions that ``/unmute nick`` (or ``/roomunban``) lifts: those on
    ``person`` (who uses ``nick`` now, if anyone) and those given to someone under that nick."""
    key = nick_key(nick)
    return [
        k
        for k, s in sanctions.items()
        if s.room == room and ((person is not None and s.person.covers(person)) or nick_key(s.person.nick) == key)
    ]


def op_key(room: str, registration: str) -> str:
    """The key of an ``/op`` grant: a room and the key of a registered nick."""
    return f"{room} {registration}"


@dataclass(frozen=True, slots=True)
class RoomRules(Stored):
    """A room's standing rules, set by its operators and kept across restarts."""

    room: str
    slow: float = 0.0
    """Seconds a member waits between lines to the room (0: no slow mode); operators never wait."""
    invite_only: bool = False
    """Only the invited (and operators) may /join."""
    invited: tuple[Person, ...] = ()
    """The people invited (kept while the room is invite-only)."""
    topic_locked: bool = False
    """Only operators may set the topic."""

    @classmethod
    def decoded(cls, data: dict[str, Any]) -> dict[str, Any]:
        # an invitation written before invitations named people named a nick's spelling: it lapses
        invited = tuple(Person(**person) for person in data.get("invited", ()) if isinstance(person, dict))
        return {**data, "invited": invited}

    def admits(self, person: Person) -> bool:
        return not self.invite_only or any(invited.admits(person) for invited in self.invited)


def slow_wait(rules: RoomRules | None, last_said: float | None, now: float) -> float:
    """Seconds a member must still wait in slow mode before their next line (0: they may speak)."""
    if rules is None or not rules.slow or last_said is None:
        return 0.0
    return max(0.0, rules.slow - (now - last_said))


def announcement(action: Action, target: str, by: str, detail: str = "") -> str:
    """The line the room reads, such as "ann was kicked by op: flooding" (``detail`` cleaned like
    a message: it may be a person's words)."""
    detail = clean_text(detail)
    done = {
        Action.OPER: "is now a server operator",
        Action.OP: f"was made a room operator by {by}",
        Action.DEOP: f"is no longer a room operator ({by})",
        Action.KICK: f"was kicked by {by}",
        Action.REMOVE: f"was removed from the room by {by}",
        Action.BAN: f"was banned by {by}",
        Action.UNBAN: f"was unbanned by {by}",
        Action.MUTE: f"was muted by {by}",
        Action.UNMUTE: f"was unmuted by {by}",
        Action.SLOW: f"slow mode set by {by}",
        Action.LOCK: f"is invite-only now ({by})",
        Action.UNLOCK: f"is open to all again ({by})",
        Action.INVITE: f"was invited by {by}",
        Action.TOPIC_LOCK: f"topic locked by {by}: only operators may change it",
        Action.TOPIC_UNLOCK: f"topic unlocked by {by}",
        Action.REDACT: f"was removed by {by}",
        Action.ROOMBAN: f"was banned from the room by {by}",
        Action.ROOMUNBAN: f"may come back to the room ({by})",
    }[action]
    return f"{target} {done}" + (f": {detail}" if detail else "")

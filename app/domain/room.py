"""The room: who is here, what a line of input means, and which events result.

Plain synchronous Python: it returns ``Outcome`` instructions (publish, tell, disconnect) and
leaves ids, timestamps and sockets to the layers around it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from app.domain.events import Disconnect, Event, Forward, Gateway, Kind, Outcome, Publish, ShowHistory, Tell, User
from app.domain.flood import FloodPolicy
from app.domain.goodbye import Goodbye
from app.domain.nicks import NickError, NickIndex, nick_key, normalize_nick
from app.domain.text import clean_text

DEFAULT_HISTORY = 20
USERS_LISTED = 100
"""The most users a welcome or /who lists by name; the total is always given."""

WELCOME = "You're connected to the chat server — /help for commands"

HELP = """Commands:
/nick NAME      change your nick (letters, digits, _ and -, up to 24)
/who            list everyone here
/me ACTION      say what you are doing (* [nick] waves)
/msg NICK TEXT  send a private message that only NICK sees
/history [N]    show the last N messages (default 20)
/help           this list
/quit [REASON]  leave the room
/ignore NICK    hide someone's lines from you this session (/unignore NICK)
/register PASS  protect your nick from others (/identify [NICK] PASS proves it)
/oper PASS      become an operator: /kick /ban /unban /bans /mute /slow /redact /op /deop /modlog
Anything else you type is said to everyone. Start a line with // to say something beginning with /."""


def limits_help(policy: FloodPolicy, max_message: int) -> str:
    """The limits a person runs into, as /help states them (from the server's own settings)."""
    if not policy.enabled:
        return f"Limits: {max_message} characters a message."
    return f"Limits: {max_message} characters a message; {policy.pace}."


@dataclass(slots=True)
class Member:
    id: int
    nick: str
    gateway: Gateway

    @property
    def user(self) -> User:
        return User(self.nick, self.gateway)


@dataclass(frozen=True, slots=True)
class RemoteMember:
    """Someone connected to another process of the same room (``conn`` is their id there)."""

    nick: str
    gateway: Gateway
    process: str
    conn: int

    @property
    def user(self) -> User:
        return User(self.nick, self.gateway)


class Room:
    """One chat room. Members are known by the connection id the gateways give them.

    With several processes, each keeps a replica of who is connected elsewhere (``_remote``),
    fed from the other processes' join, leave and nick events, so /who, the welcome list,
    nick uniqueness and /msg span the whole room.
    """

    def __init__(
        self, max_message: int = 2000, rng: random.Random | None = None, flood: FloodPolicy | None = None
    ) -> None:
        self.max_message = max_message
        self.help = f"{HELP}\n{limits_help(flood or FloodPolicy(), max_message)}"
        self._rng = rng or random.Random()
        self._members: dict[int, Member] = {}
        self._by_nick: NickIndex[Member] = NickIndex()
        self._remote: NickIndex[RemoteMember] = NickIndex()
        self.guard: Callable[[str, int], str | None] = lambda nick, member_id: None
        """Why a member may not take a nick (registered to someone else, banned); None: it may."""
        self.badged: set[str] = set()
        """Keys of the nicks shown with an operator's badge."""

    def __len__(self) -> int:
        return len(self._members)

    @property
    def population(self) -> int:
        """Everyone in the room: this process's members and other processes'."""
        return len(self._members) + len(self._remote)

    def __contains__(self, member_id: int) -> bool:
        return member_id in self._members

    def users(self, limit: int | None = None, include: Member | None = None) -> tuple[User, ...]:
        """Who is here, in this process and others, at most ``limit`` of them (always with
        ``include``): a welcome or a /who in a room of thousands lists a sample and the total."""
        everyone = itertools.chain(self._members.values(), self._remote)
        listed: list[Member | RemoteMember] = list(itertools.islice(everyone, limit))
        if include is not None and include not in listed:
            listed[-1:] = [include]
        if self.badged:
            return tuple(User(m.nick, m.gateway, nick_key(m.nick) in self.badged) for m in listed)
        return tuple(m.user for m in listed)

    def find(self, nick: str) -> Member | RemoteMember | None:
        """Whoever uses ``nick`` (or a nick that looks like it), here or in another process."""
        return self._by_nick.get(nick) or self._remote.get(nick)

    def nick_of(self, member_id: int) -> str:
        return self._members[member_id].nick

    def local_members(self) -> list[Member]:
        return list(self._members.values())

    # -- members of other processes ----------------------------------------------------------

    def set_remote(self, members: Iterable[RemoteMember]) -> None:
        """Replace the replica of other processes' members (from a snapshot of the shared room)."""
        self._remote = NickIndex()
        for member in members:
            self._remote.add(member.nick, member)

    def track_remote(self, event: Event) -> None:
        """Update the replica from a public event another process published."""
        kind = event.kind
        if kind is Kind.LEAVE or kind is Kind.NICK:
            nick = event.old if kind is Kind.NICK else event.nick
            held = self._remote.get(nick)
            if held is not None and (held.process, held.conn) == (event.process, event.origin):
                self._remote.remove(held.nick, held)
        if (kind is Kind.JOIN or kind is Kind.NICK) and event.gateway is not None:
            member = RemoteMember(event.nick, event.gateway, event.process, event.origin)
            self._remote.add(event.nick, member)

    def refused(self, event: Event) -> list[Outcome]:
        """The shared room turned down an event this process published: a nick taken on another
        process a moment earlier, which the replica could not know yet. Undo it here and say why."""
        member = self._members.get(event.origin)
        if member is None:
            return []
        if event.kind is Kind.JOIN and member.nick == event.nick:
            self._rename(member, self._guest_nick())
            renamed = Event(Kind.NICK, nick=member.nick, old=event.nick, gateway=member.gateway, origin=member.id)
            joined = Event(Kind.JOIN, nick=member.nick, gateway=member.gateway, origin=member.id)
            return [Tell(member.id, _taken(event.nick)), Tell(member.id, renamed), Publish(joined)]
        if event.kind is Kind.NICK and member.nick == event.nick:
            self._rename(member, event.old)
            return [Tell(member.id, _taken(event.nick))]
        if event.kind in (Kind.MESSAGE, Kind.ACTION):
            return [Tell(member.id, _error("Not sent: you are not in the room under that nick", "refused"))]
        return []

    # -- arrivals and departures -------------------------------------------------------

    def join(self, member_id: int, gateway: Gateway, requested: str | None = None) -> list[Outcome]:
        """Admit a member under the requested nick if it is free, else under a guest nick."""
        outcomes: list[Outcome] = []
        nick = None
        if requested:
            try:
                nick = self._claimable(requested, member_id)
            except NickError as refusal:
                outcomes.append(Tell(member_id, _error(f"Nick refused: {refusal}", "nick_refused")))
        member = Member(member_id, nick or self._guest_nick(), gateway)
        self._members[member_id] = member
        self._by_nick.add(member.nick, member)
        welcome = Event(
            Kind.WELCOME,
            nick=member.nick,
            text=WELCOME,
            users=self.users(USERS_LISTED, include=member),
            total=self.population,
            gateway=gateway,
        )
        outcomes.insert(0, Tell(member_id, welcome))
        outcomes.append(Publish(Event(Kind.JOIN, nick=member.nick, gateway=gateway, origin=member_id)))
        return outcomes

    def leave(self, member_id: int, reason: str = "") -> list[Outcome]:
        """Remove a member; leaving twice is harmless so every path may call it."""
        member = self._members.pop(member_id, None)
        if member is None:
            return []
        self._by_nick.remove(member.nick, member)
        text = clean_text(reason)[:200]
        return [Publish(Event(Kind.LEAVE, nick=member.nick, text=text, gateway=member.gateway, origin=member_id))]

    # -- input ---------------------------------------------------------------------------

    def handle(self, member_id: int, line: str) -> list[Outcome]:
        """Interpret one line of input from a member: a command or something to say."""
        member = self._members.get(member_id)
        if member is None:
            return []
        line = clean_text(line)
        if not line:
            return []
        if line.startswith("//"):
            return self._say(member, Kind.MESSAGE, line[1:])
        if not line.startswith("/"):
            return self._say(member, Kind.MESSAGE, line)
        name, _, rest = line[1:].partition(" ")
        rest = rest.strip()
        command = _COMMANDS.get(name.lower())
        if command is None:
            return [Tell(member_id, _error(f"Unknown command /{name} — type /help for the list", "unknown_command"))]
        return command(self, member, rest)

    def _say(self, member: Member, kind: Kind, text: str) -> list[Outcome]:
        text = text.strip()
        if not text:
            usage = "Usage: /me ACTION" if kind is Kind.ACTION else "Nothing to say"
            return [Tell(member.id, _error(usage, "usage"))]
        if len(text) > self.max_message:
            return [Tell(member.id, _too_long(len(text), self.max_message))]
        return [Publish(Event(kind, nick=member.nick, text=text, origin=member.id))]

    def _me(self, member: Member, rest: str) -> list[Outcome]:
        return self._say(member, Kind.ACTION, rest)

    def _nick(self, member: Member, rest: str) -> list[Outcome]:
        if not rest:
            return [Tell(member.id, _error(f"Usage: /nick NAME — you are {member.nick}", "usage"))]
        try:
            nick = self._claimable(rest, member.id)
        except NickError as refusal:
            return [Tell(member.id, _error(f"Nick refused: {refusal}", "nick_refused"))]
        if nick == member.nick:
            return [Tell(member.id, _system(f"You are already {nick}"))]
        old = member.nick
        self._rename(member, nick)
        return [Publish(Event(Kind.NICK, nick=nick, old=old, gateway=member.gateway, origin=member.id))]

    def _rename(self, member: Member, nick: str) -> None:
        self._by_nick.remove(member.nick, member)
        member.nick = nick
        self._by_nick.add(nick, member)

    def _who(self, member: Member, rest: str) -> list[Outcome]:
        users = self.users(USERS_LISTED, include=member)
        return [Tell(member.id, Event(Kind.USERS, users=users, total=self.population))]

    def _msg(self, member: Member, rest: str) -> list[Outcome]:
        target_nick, _, text = rest.partition(" ")
        text = text.strip()
        if not target_nick or not text:
            return [Tell(member.id, _error("Usage: /msg NICK TEXT", "usage"))]
        target = self.find(target_nick)
        if target is None:
            return [Tell(member.id, _error(f"No one here is called {target_nick}", "no_such_nick"))]
        if len(text) > self.max_message:
            return [Tell(member.id, _too_long(len(text), self.max_message))]
        event = Event(Kind.PRIVATE, nick=member.nick, to=target.nick, text=text, origin=member.id)
        if isinstance(target, RemoteMember):
            return [Forward(target.process, target.conn, event), Tell(member.id, event)]
        if target.id == member.id:
            return [Tell(member.id, event)]
        return [Tell(target.id, event), Tell(member.id, event)]

    def _history(self, member: Member, rest: str) -> list[Outcome]:
        if not rest:
            return [ShowHistory(member.id, DEFAULT_HISTORY)]
        if not (rest.isascii() and rest.isdigit() and len(rest) <= 6) or int(rest) < 1:
            return [Tell(member.id, _error("Usage: /history [N] — N is a number of messages", "usage"))]
        return [ShowHistory(member.id, int(rest))]

    def _help(self, member: Member, rest: str) -> list[Outcome]:
        return [Tell(member.id, _system(self.help))]

    def _quit(self, member: Member, rest: str) -> list[Outcome]:
        farewell = Tell(member.id, _system(Goodbye.QUIT.text))
        return [farewell, *self.leave(member.id, rest), Disconnect(member.id, Goodbye.QUIT, rest)]

    # -- nicks ---------------------------------------------------------------------------

    def _claimable(self, requested: str, member_id: int) -> str:
        """The normalized nick if this member may take it; NickError with the reason if not."""
        nick = normalize_nick(requested)
        holder = self._by_nick.get(nick) or self._remote.get(nick)
        if holder is not None and holder is not self._members.get(member_id):
            taken = "already taken" if holder.nick.casefold() == nick.casefold() else f"too like '{holder.nick}'"
            raise NickError(f"'{nick}' is {taken}")
        reason = self.guard(nick, member_id)
        if reason is not None:
            raise NickError(reason)
        return nick

    def _guest_nick(self) -> str:
        for digits in (4, 4, 4, 5, 6, 7, 8):
            nick = f"guest{self._rng.randrange(10 ** (digits - 1), 10**digits)}"
            if self._by_nick.get(nick) is None and self._remote.get(nick) is None:
                return nick
        raise RuntimeError("no free guest nick")  # 10^8 guests: unreachable with connection limits


def _error(text: str, code: str) -> Event:
    return Event(Kind.ERROR, text=text, code=code)


def _taken(nick: str) -> Event:
    return _error(f"Nick refused: '{nick}' is already taken", "nick_refused")


def _system(text: str) -> Event:
    return Event(Kind.SYSTEM, text=text)


def _too_long(length: int, limit: int) -> Event:
    return _error(f"Message not sent: {length} characters, the limit is {limit}", "too_long")


_COMMANDS = {
    "nick": Room._nick,
    "who": Room._who,
    "names": Room._who,
    "me": Room._me,
    "msg": Room._msg,
    "history": Room._history,
    "help": Room._help,
    "quit": Room._quit,
}

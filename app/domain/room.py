"""The room: who is here, what a line of input means, and which events result.

Plain synchronous Python: it returns ``Outcome`` instructions (publish, tell, disconnect) and
leaves ids, timestamps and sockets to the layers around it.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from app.domain.events import (
    Disconnect,
    Event,
    Forget,
    Forward,
    Gateway,
    Kind,
    Outcome,
    Publish,
    RoomInfo,
    Seat,
    ShowHistory,
    Tell,
    User,
)
from app.domain.flood import FloodPolicy
from app.domain.goodbye import Goodbye, Refusal
from app.domain.nicks import NickError, NickIndex, nick_key, normalize_nick
from app.domain.rooms import MAX_TOPIC, Maker, RoomError, Rooms, room_name
from app.domain.text import clean_text

DEFAULT_HISTORY = 20
SPOKEN = frozenset((Kind.MESSAGE, Kind.ACTION, Kind.TOPIC))
"""What someone says in a room (as against arriving, leaving, renaming): what makes its history worth keeping."""
USERS_LISTED = 100
"""The most users a welcome or /who lists by name; the total is always given."""

WELCOME = "You're connected to the chat server — /help for commands"

HELP = """Commands:
/nick NAME      change your nick (letters, digits, _ and -, up to 24)
/who [#ROOM]    list everyone in your current room (or in #ROOM)
/me ACTION      say what you are doing (* [nick] waves)
/msg NICK TEXT  send a private message that only NICK sees, whatever room they are in
/join #ROOM     join a room (made if new) and make it your current room
/part [#ROOM] [REASON]  leave a room (your current one by default)
/rooms          list the rooms, biggest first
/topic [TEXT]   show or set your current room's topic
/history [N]    show the last N messages of your current room (default 20)
/help           this list
/quit [REASON]  leave the server
/ignore NICK    hide someone's lines from you this session (/unignore NICK)
/register PASS  protect your nick from others (/identify [NICK] PASS proves it)
/token [list]   a token proving your nick elsewhere, or your tokens (/token revoke ID|all)
/oper PASS      become a server operator; operators have /kick /remove /ban /unban /bans
                /mute /unmute /roomban /roomunban /roombans /slow /lock /unlock /invite /redact
                /topic lock|unlock /op /deop /modlog (a room operator's act in their room only)
Anything else you type is said to your current room; lines from your other rooms start with
their name, like [#dev]. Start a line with // to say something beginning with /."""


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
    """The server's people and rooms. Members are known by the connection id the gateways give them.

    Nicks are unique across the server; each member is in one or more rooms (``rooms``) and says
    plain lines into its current one. With several processes, each keeps a replica of who is
    connected elsewhere (``_remote``), fed from the other processes' events, so /who, the
    welcome list, nick uniqueness and /msg span every process.
    """

    def __init__(
        self,
        max_message: int = 2000,
        rng: random.Random | None = None,
        flood: FloodPolicy | None = None,
        rooms: Rooms | None = None,
    ) -> None:
        self.max_message = max_message
        self.help = f"{HELP}\n{limits_help(flood or FloodPolicy(), max_message)}"
        self.rooms = rooms or Rooms()
        self._rng = rng or random.Random()
        self._members: dict[int, Member] = {}
        self._by_nick: NickIndex[Member] = NickIndex()
        self._remote: NickIndex[RemoteMember] = NickIndex()
        self.guard: Callable[[str, int], str | Refusal | None] = lambda nick, member_id: None
        """Why a member may not take a nick (registered to someone else, banned); None: it may."""
        self.maker_of: Callable[[int], Maker] = lambda member_id: Maker(session=member_id)
        """Who a member is as the maker of a new room (its budget, its cap): the hub knows."""
        self.badged: set[str] = set()
        """Keys of the nicks shown with an operator's badge."""

    def __len__(self) -> int:
        return len(self._members)

    @property
    def population(self) -> int:
        """Everyone on the server: this process's members and other processes'."""
        return len(self._members) + len(self._remote)

    def __contains__(self, member_id: int) -> bool:
        return member_id in self._members

    def users(
        self, limit: int | None = None, include: Member | None = None, room: str | None = None
    ) -> tuple[User, ...]:
        """Who is in ``room`` (None: on the server), in this process and others, at most ``limit``
        of them (always with ``include``): a welcome or a /who in a room of thousands lists a
        sample and the total."""
        everyone: Iterable[Member | RemoteMember]
        state = self.rooms.get(room) if room is not None else None
        if state is None:
            everyone = itertools.chain(self._members.values(), self._remote)
        else:
            local = (self._members[m] for m in state.members if m in self._members)
            remote = (held for held in map(self._remote.get, state.remote) if held is not None)
            everyone = itertools.chain(local, remote)
        listed: list[Member | RemoteMember] = list(itertools.islice(everyone, limit))
        if include is not None and include not in listed:
            listed[-1:] = [include]
        if self.badged:
            return tuple(User(m.nick, m.gateway, nick_key(m.nick) in self.badged) for m in listed)
        return tuple(m.user for m in listed)

    def find(self, nick: str) -> Member | RemoteMember | None:
        """Whoever uses ``nick`` (or a nick that looks like it), here or in another process."""
        return self._by_nick.get(nick) or self._remote.get(nick)

    def population_of(self, room: str) -> int:
        state = self.rooms.get(room)
        return state.population if state is not None else 0

    def nick_of(self, member_id: int) -> str:
        return self._members[member_id].nick

    def current(self, member_id: int) -> str:
        """The room a member's plain lines go to."""
        return self.rooms.current(member_id)

    def local_members(self) -> list[Member]:
        return list(self._members.values())

    # -- members of other processes ----------------------------------------------------------

    def set_remote(self, members: Iterable[RemoteMember], rooms: dict[str, set[str]]) -> None:
        """Replace the replica of other processes' members and of the rooms they are in (room name
        -> nick keys), from a snapshot of the shared server."""
        self._remote = NickIndex()
        for member in members:
            self._remote.add(member.nick, member)
        self.rooms.reset_remote(rooms)

    def track_remote(self, event: Event) -> None:
        """Update the replica from a public event another process published."""
        kind = event.kind
        room = event.room or self.rooms.default
        if kind in (Kind.LEAVE, Kind.NICK, Kind.PART):
            nick = event.old if kind is Kind.NICK else event.nick
            self.rooms.remote_exit(room, nick_key(nick))
            held = self._remote.get(nick)
            last = kind is not Kind.PART and event.completes
            if last and held is not None and (held.process, held.conn) == (event.process, event.origin):
                self._remote.remove(held.nick, held)
        if kind in (Kind.JOIN, Kind.NICK, Kind.ENTER):
            self.rooms.remote_enter(room, nick_key(event.nick))
            if event.gateway is not None:
                self._remote.add(event.nick, RemoteMember(event.nick, event.gateway, event.process, event.origin))
        elif kind is Kind.TOPIC:
            self.restore_topic(event)
        if kind in SPOKEN:
            self.rooms.spoke(room)
        else:
            self.rooms.touch(room)

    def restore_topic(self, event: Event) -> None:
        """A topic set earlier (from history at start-up, or by another process): cleaned again, since
        it may have been stored before topics were, and every /topic and welcome shows it."""
        state = self.rooms.get(event.room)
        if state is not None:
            state.topic = clean_text(event.text)

    def refused(self, event: Event) -> list[Outcome]:
        """The shared room turned down an event this process published: a nick taken on another
        process a moment earlier, which the replica could not know yet. Undo it here and say why."""
        member = self._members.get(event.origin)
        if member is None:
            return []
        if event.kind is Kind.JOIN and member.nick == event.nick:
            self._rename(member, self._guest_nick())
            renamed = Event(Kind.NICK, nick=member.nick, old=event.nick, gateway=member.gateway, origin=member.id)
            return [Tell(member.id, _taken(event.nick)), Tell(member.id, renamed), *self._joins(member)]
        if event.kind is Kind.NICK and member.nick == event.nick:
            self._rename(member, event.old)
            return [Tell(member.id, _taken(event.nick))]
        if event.kind in (Kind.MESSAGE, Kind.ACTION):
            return [Tell(member.id, _error("Not sent: you are not in the room under that nick", "refused"))]
        return []

    # -- arrivals and departures -------------------------------------------------------

    def join(
        self, member_id: int, gateway: Gateway, requested: str | None = None, rooms: Iterable[str] = ()
    ) -> list[Outcome]:
        """Admit a member under the requested nick if it is free, else under a guest nick, into
        ``rooms`` (names as typed; the last is current) or else the default room."""
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
        for typed in rooms:
            try:
                _, forgotten = self.rooms.enter(member_id, room_name(typed), self.maker_of(member_id))
            except RoomError as refusal:
                outcomes.append(Tell(member_id, _error(f"Not joined: {refusal}", refusal.code)))
                continue
            if forgotten is not None:
                outcomes.append(Forget(forgotten))
        if not self.rooms.of(member_id):
            self.rooms.enter(member_id, self.rooms.default)
        current = self.rooms.current(member_id)
        welcome = Event(
            Kind.WELCOME,
            nick=member.nick,
            text=WELCOME,
            users=self.users(USERS_LISTED, include=member, room=current),
            total=self.population_of(current),
            gateway=gateway,
            room=current,
            rooms=tuple(self._info(name) for name in self.rooms.of(member_id)),
        )
        outcomes.insert(0, Tell(member_id, welcome))
        outcomes.extend(self._joins(member))
        return outcomes

    def _joins(self, member: Member) -> list[Outcome]:
        """A member's arrival on the server, announced in each of its rooms."""
        return [
            Publish(Event(Kind.JOIN, nick=member.nick, gateway=member.gateway, origin=member.id, room=name))
            for name in self.rooms.of(member.id)
        ]

    def leave(self, member_id: int, reason: str = "") -> list[Outcome]:
        """Remove a member; leaving twice is harmless so every path may call it."""
        member = self._members.pop(member_id, None)
        if member is None:
            return []
        self._by_nick.remove(member.nick, member)
        text = clean_text(reason)[:200]
        rooms = tuple(self.rooms.remove(member_id))
        left = Event(Kind.LEAVE, nick=member.nick, text=text, gateway=member.gateway, origin=member_id, spans=rooms)
        return [Publish(replace(left, room=name)) for name in rooms]

    # -- input ---------------------------------------------------------------------------

    def handle(self, member_id: int, line: str, room: str | None = None) -> list[Outcome]:
        """Interpret one line of input from a member: a command or something to say. ``room``:
        the room the client meant it for (a web client's tab), else its current room."""
        member = self._members.get(member_id)
        if member is None:
            return []
        line = clean_text(line)
        if not line:
            return []
        if room is None:
            target = self.rooms.current(member_id)
        else:
            try:
                target = room_name(room)
            except RoomError as refusal:
                return [Tell(member_id, _error(f"Not sent: {refusal}", "no_such_room"))]
            if target not in self.rooms.of(member_id):
                text = f"Not sent: you are not in {target} — /join {target} first"
                return [Tell(member_id, _error(text, "not_in_room"))]
        if line.startswith("//"):
            return self._say(member, Kind.MESSAGE, line[1:], target)
        if not line.startswith("/"):
            return self._say(member, Kind.MESSAGE, line, target)
        name, _, rest = line[1:].partition(" ")
        rest = rest.strip()
        command = _COMMANDS.get(name.lower())
        if command is None:
            return [Tell(member_id, _error(f"Unknown command /{name} — type /help for the list", "unknown_command"))]
        return command(self, member, rest, target)

    def _say(self, member: Member, kind: Kind, text: str, room: str) -> list[Outcome]:
        text = text.strip()
        if not text:
            usage = "Usage: /me ACTION" if kind is Kind.ACTION else "Nothing to say"
            return [Tell(member.id, _error(usage, "usage"))]
        if len(text) > self.max_message:
            return [Tell(member.id, _too_long(len(text), self.max_message))]
        self.rooms.spoke(room, member.id)
        return [Publish(Event(kind, nick=member.nick, text=text, origin=member.id, room=room))]

    def _me(self, member: Member, rest: str, room: str) -> list[Outcome]:
        return self._say(member, Kind.ACTION, rest, room)

    def _nick(self, member: Member, rest: str, room: str) -> list[Outcome]:
        if not rest:
            return [Tell(member.id, _error(f"Usage: /nick NAME — you are {member.nick}", "usage"))]
        try:
            nick = self._claimable(rest, member.id)
        except NickBanned as banned:  # whoever asks for a banned nick is turned away, as at the door
            return [Disconnect(member.id, banned.refusal.goodbye, banned.refusal.detail)]
        except NickError as refusal:
            return [Tell(member.id, _error(f"Nick refused: {refusal}", "nick_refused"))]
        if nick == member.nick:
            return [Tell(member.id, _system(f"You are already {nick}"))]
        old = member.nick
        self._rename(member, nick)
        rooms = tuple(self.rooms.of(member.id))
        renamed = Event(Kind.NICK, nick=nick, old=old, gateway=member.gateway, origin=member.id, spans=rooms)
        return [Publish(replace(renamed, room=name)) for name in rooms]

    def _rename(self, member: Member, nick: str) -> None:
        self._by_nick.remove(member.nick, member)
        member.nick = nick
        self._by_nick.add(nick, member)

    def _who(self, member: Member, rest: str, room: str) -> list[Outcome]:
        if rest.startswith("#"):  # anything else after /who is ignored, as it always was
            try:
                room = room_name(rest.split(" ", 1)[0])
            except RoomError as refusal:
                return [Tell(member.id, _error(f"Usage: /who [#ROOM] — {refusal}", "usage"))]
            if room not in self.rooms or not self.population_of(room):
                return [Tell(member.id, _error(f"No one is in {room}", "no_such_room"))]
        users = self.users(USERS_LISTED, include=member if member.id in self._members_of(room) else None, room=room)
        return [Tell(member.id, Event(Kind.USERS, users=users, total=self.population_of(room), room=room))]

    def _members_of(self, room: str) -> set[int]:
        state = self.rooms.get(room)
        return state.members if state is not None else set()

    def _msg(self, member: Member, rest: str, room: str) -> list[Outcome]:
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

    def _history(self, member: Member, rest: str, room: str) -> list[Outcome]:
        if not rest:
            return [ShowHistory(member.id, DEFAULT_HISTORY, room)]
        if not (rest.isascii() and rest.isdigit() and len(rest) <= 6) or int(rest) < 1:
            return [Tell(member.id, _error("Usage: /history [N] — N is a number of messages", "usage"))]
        return [ShowHistory(member.id, int(rest), room)]

    def _help(self, member: Member, rest: str, room: str) -> list[Outcome]:
        return [Tell(member.id, _system(self.help))]

    def _quit(self, member: Member, rest: str, room: str) -> list[Outcome]:
        farewell = Tell(member.id, _system(Goodbye.QUIT.text))
        return [farewell, *self.leave(member.id, rest), Disconnect(member.id, Goodbye.QUIT, rest)]

    # -- rooms ---------------------------------------------------------------------------

    def _join(self, member: Member, rest: str, room: str) -> list[Outcome]:
        typed = rest.split(" ", 1)[0]
        if not typed:
            return [Tell(member.id, _error("Usage: /join #ROOM", "usage"))]
        try:
            name = room_name(typed)
            was_in = name in self.rooms.of(member.id)
            _, forgotten = self.rooms.enter(member.id, name, self.maker_of(member.id))
        except RoomError as refusal:
            return [Tell(member.id, _error(f"Not joined: {refusal}", refusal.code))]
        outcomes: list[Outcome] = [Forget(forgotten)] if forgotten is not None else []
        outcomes.append(Tell(member.id, self._room_event(member, name)))
        if was_in:
            return [*outcomes, Seat(member.id)]
        entered = Event(Kind.ENTER, nick=member.nick, gateway=member.gateway, origin=member.id, room=name)
        return [*outcomes, Seat(member.id, replay=name), Publish(entered)]

    def _part(self, member: Member, rest: str, room: str) -> list[Outcome]:
        name, reason = room, rest
        first, _, after = rest.partition(" ")
        if first.startswith("#"):
            try:
                name = room_name(first)
            except RoomError as refusal:
                return [Tell(member.id, _error(f"Usage: /part [#ROOM] [REASON] — {refusal}", "usage"))]
            reason = after.strip()
        rooms = self.rooms.of(member.id)
        if name not in rooms:
            return [Tell(member.id, _error(f"You are not in {name}", "not_in_room"))]
        if len(rooms) == 1:
            text = f"{name} is your only room: /join another first, or /quit to leave the server"
            return [Tell(member.id, _error(text, "last_room"))]
        was_current = name == rooms[-1]
        self.rooms.exit(member.id, name)
        text = clean_text(reason)[:200]
        parted = Event(Kind.PART, nick=member.nick, text=text, gateway=member.gateway, origin=member.id, room=name)
        outcomes: list[Outcome] = [Publish(parted), Seat(member.id)]
        if was_current:
            outcomes.append(Tell(member.id, self._room_event(member, self.rooms.current(member.id))))
        return outcomes

    def _rooms(self, member: Member, rest: str, room: str) -> list[Outcome]:
        listing = tuple(self.rooms.listing())
        text = f"{self.rooms.occupied} rooms with people in them"
        return [Tell(member.id, Event(Kind.ROOMS, rooms=listing, total=self.rooms.occupied, text=text))]

    def _topic(self, member: Member, rest: str, room: str) -> list[Outcome]:
        state = self.rooms.get(room)
        if state is None:  # unreachable: the member is in the room
            return []
        if not rest:
            text = f"Topic of {room}: {state.topic}" if state.topic else f"{room} has no topic: /topic TEXT sets one"
            return [Tell(member.id, Event(Kind.SYSTEM, text=text, room=room))]
        if len(rest) > MAX_TOPIC:
            text = f"Topic not set: {len(rest)} characters, the limit is {MAX_TOPIC}"
            return [Tell(member.id, _error(text, "too_long"))]
        state.topic = rest
        self.rooms.spoke(room, member.id)
        return [Publish(Event(Kind.TOPIC, nick=member.nick, text=rest, origin=member.id, room=room))]

    def _room_event(self, member: Member, name: str) -> Event:
        """What a member is told about the room it just entered or switched to."""
        state = self.rooms.get(name)
        topic = state.topic if state is not None else ""
        users = self.users(USERS_LISTED, include=member, room=name)
        return Event(Kind.ROOM, room=name, text=topic, users=users, total=self.population_of(name), nick=member.nick)

    def _info(self, name: str) -> RoomInfo:
        state = self.rooms.get(name)
        return state.info if state is not None else RoomInfo(name, 0)

    # -- nicks ---------------------------------------------------------------------------

    def _claimable(self, requested: str, member_id: int) -> str:
        """The normalized nick if this member may take it; NickError with the reason if not."""
        nick = normalize_nick(requested)
        holder = self._by_nick.get(nick) or self._remote.get(nick)
        if holder is not None and holder is not self._members.get(member_id):
            taken = "already taken" if holder.nick.casefold() == nick.casefold() else f"too like '{holder.nick}'"
            raise NickError(f"'{nick}' is {taken}")
        reason = self.guard(nick, member_id)
        if isinstance(reason, Refusal):
            raise NickBanned(reason)
        if reason is not None:
            raise NickError(reason)
        return nick

    def _guest_nick(self) -> str:
        for digits in (4, 4, 4, 5, 6, 7, 8):
            nick = f"guest{self._rng.randrange(10 ** (digits - 1), 10**digits)}"
            if self._by_nick.get(nick) is None and self._remote.get(nick) is None:
                return nick
        raise RuntimeError("no free guest nick")  # 10^8 guests: unreachable with connection limits


class NickBanned(NickError):
    """A nick nobody may take: asking for it ends the connection, the way a door refuses it."""

    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.line())
        self.refusal = refusal


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
    "join": Room._join,
    "part": Room._part,
    "leave": Room._part,
    "rooms": Room._rooms,
    "list": Room._rooms,
    "topic": Room._topic,
}

"""The hub's moderation desk: operators, kicks, bans, mutes, slow mode, redaction and ignores.

The rules (who may, how long, whom a ban covers) are the domain's (``app.domain.moderation``);
the records are the store's (``app.bus.moderation``); protected nicks have a desk of their own
(``app.hub.identities``), to which /register and /identify are routed. This desk reads commands,
checks the rules, writes the records, and announces each action to the room as a public
``moderation`` event. Every process acts on those announcements as they are delivered, in the
room's one order: the process holding a kicked or banned nick closes its connection, and the
others re-read what changed from the shared store, so a ban applies in every process at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

from redis.exceptions import RedisError

from app import passwords
from app.bus.moderation import ModerationStore, Table
from app.domain.audit import SERVER, AuditRecord, Noted
from app.domain.events import Event, Gateway, Kind
from app.domain.goodbye import Goodbye, Refusal
from app.domain.guesses import Door, GuessPolicy, limits
from app.domain.identity import DeviceToken, Registration
from app.domain.moderation import (
    Action,
    ArgumentError,
    Ban,
    BanKind,
    BanRequest,
    Role,
    RoomRules,
    Sanction,
    Speech,
    address_ban,
    announcement,
    describe_duration,
    describe_remaining,
    find_ban,
    held,
    lifted,
    naming,
    op_key,
    slow_wait,
    take_duration,
)
from app.domain.nicks import NickError, nick_key, normalize_nick
from app.domain.people import Person
from app.domain.powers import POWERS, Denial, Power, Reach, Scope, Target, judge
from app.domain.room import Member, RemoteMember
from app.domain.rooms import RoomError, RoomName, room_name
from app.domain.text import clean_text
from app.hub.contract import Client, HubServices
from app.hub.identities import Identities
from app.hub.standing import Standing, by_room
from app.hub.verifier import Checked, Verdict, Verifier

log = logging.getLogger("app.moderation")
audit = logging.getLogger("app.audit")

MODLOG_SHOWN = 20
MODLOG_MOST = 200
"""The most records one /modlog shows."""
MAX_SLOW = 3600
WATCH_INTERVAL = 1.0
"""Seconds between looks at a shared store's version: how soon another process's change is seen here."""
STORE_WAIT = 5.0
PASSWORD_PROMPTS = {
    Gateway.TELNET: "Type the password on the next line (a telnet client hides it; netcat shows what you type)",
    Gateway.TLS: "Type the password on the next line (a telnet client hides it; others show what you type)",
    Gateway.SSH: "Type the password on the next line (it is not shown as you type)",
    Gateway.WEB: "Send the password as your next line (it goes to the server only, never to the room)",
}
"""How each door asks for a password on a line of its own (each hides it as far as its clients can)."""
SPEECH = {"me": Speech.ROOM, "msg": Speech.PRIVATE}
"""Commands that say something: held back from a muted member (and in slow mode) like plain lines."""
SECRET_COMMANDS = frozenset({"oper", "register", "identify"})
"""Commands whose password, when left out, is asked for on a line of its own."""
TYPED_IN: ContextVar[RoomName | None] = ContextVar("typed_in", default=None)
"""The room a command was typed in (a page's tab), for the task carrying it out."""


@dataclass(frozen=True, slots=True)
class Policy:
    operator_password: str | None = None
    """``CHAT_OPERATOR_PASSWORD``: plain, or the hashed form ``python -m app.passwords`` prints."""
    nick_expiry_days: float = 90.0
    guessing: GuessPolicy = field(default_factory=GuessPolicy)


Handler = Callable[["Moderation", "Client", str], Awaitable[None]]
T = TypeVar("T")


class Moderation:
    """Moderation state for this process, kept in step with the store and the room's announcements."""

    def __init__(
        self, hub: HubServices, store: ModerationStore, policy: Policy, clock: Callable[[], float] = time.time
    ):
        self.hub = hub
        self.store = store
        self.policy = policy
        self.clock = clock
        self.bans: dict[str, Ban] = {}
        self.mutes: dict[str, Sanction] = {}
        self.roombans: dict[str, Sanction] = {}
        """People kept out of a room (``/roomban``), by ``Sanction.key``."""
        self.rules: dict[str, RoomRules] = {}
        """Each room's standing rules, by name (rooms without any have none here)."""
        self.slow: set[str] = set()
        """Rooms in slow mode (empty: no room is, and lines are not even timed)."""
        self.last_said: dict[int, dict[str, float]] = {}
        """When each connection last said something to each room in slow mode."""
        self.verifier = Verifier(store.guesses, policy.guessing, clock)
        self.identities = Identities(self, store, self.verifier, policy.nick_expiry_days, policy.guessing)
        self.standing = Standing(self)
        self.ignoring: dict[int, set[str]] = {}
        """Connection id to the nick keys whose lines it does not want to see (for its session)."""
        self.awaiting: dict[int, tuple[str, str]] = {}
        """A connection asked for a password on its next line: the command and what was typed with it."""
        self.work: set[asyncio.Task[None]] = set()
        """Commands and writes under way: waited for at shutdown."""
        self.watcher: asyncio.Task[None] | None = None

    # -- life --------------------------------------------------------------------------------

    async def load(self) -> None:
        """Read every record (at start, and when another process announced a change)."""
        now = self.clock()
        days = self.policy.nick_expiry_days
        self.identities.replace_all(
            await self._records(Table.NICKS, Registration.read, lambda r: not r.lapsed(now, days)),
            await self._records(Table.TOKENS, DeviceToken.read, lambda token: True),
        )
        self.rules = by_room(await self._records(Table.ROOMS, RoomRules.read, lambda rules: True))
        self.slow = {name for name, rules in self.rules.items() if rules.slow}
        self.bans = await self._records(Table.BANS, Ban.read, lambda ban: ban.active(now))
        self.mutes = await self._records(Table.MUTES, Sanction.read, lambda mute: mute.active(now))
        self.roombans = await self._records(Table.ROOM_BANS, Sanction.read, lambda ban: ban.active(now))
        await self.standing.load()

    async def _records(self, table: Table, read: Callable[[str], T], current: Callable[[T], bool]) -> dict[str, T]:
        """A table's records that still hold; the ones that have run out are deleted, and one that
        cannot be read (written by hand, or by another program) is skipped with a warning."""
        records = {}
        for key, record in (await self.store.read(table)).items():
            try:
                value = read(record)
            except (ValueError, TypeError, KeyError):
                log.warning("skipped an unreadable %s record %r", table.value, key)
                continue
            if current(value):
                records[key] = value
            else:
                await self.store.delete(table, key)
                log.info("%s record %r ran out", table.value, key)
        return records

    def start_watching(self) -> None:
        """Follow a shared store's changes (see ``watch``); a store no one else writes needs no watching."""
        if self.store.shared:
            self.watcher = asyncio.create_task(self.watch(), name="moderation-watch")

    async def watch(self, every: float = WATCH_INTERVAL) -> None:
        """With a shared store, read it again whenever another process changed it (a registration,
        a new token, the address a nick's ban covers), and close what a new ban covers."""
        seen = await self.store.version()
        while True:
            await asyncio.sleep(every)
            try:
                version = await self.store.version()
                if version != seen:
                    seen = version
                    await self.load()
                    self._close_banned()
            except (OSError, RedisError) as problem:  # Redis away: the bus says so; keep what we have
                log.debug("cannot read moderation records: %s", problem)

    async def close(self) -> None:
        """Stop watching, let what is being written finish, and close the store."""
        if self.watcher is not None:
            self.watcher.cancel()
        await asyncio.gather(*self.work, *([self.watcher] if self.watcher else []), return_exceptions=True)
        await self.store.close()

    def spawn(self, job: Coroutine[Any, Any, None]) -> None:
        """Run ``job`` on the event loop; it is waited for at shutdown. (A hub driven without a
        loop, as unit tests of the room's logic drive it, has nowhere to run it: it is dropped.)"""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            job.close()
            return
        task = loop.create_task(job)
        self.work.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.work.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("moderation job failed", exc_info=task.exception())

    # -- admission ----------------------------------------------------------------------------

    def refusal(self, address: str | None, nick: str | None = None) -> Refusal | None:
        """A ban covering a client at ``address`` (None: exempt) asking for ``nick``, as a refusal."""
        ban = find_ban(self.bans, address, nick, self.clock()) if self.bans else None
        return None if ban is None else Refusal(Goodbye.BANNED, ban.notice(self.clock()))

    def left(self, client: Client) -> None:
        self.standing.left(client)
        for state in (self.ignoring, self.awaiting, self.last_said):
            state.pop(client.id, None)
        self.identities.left(client)
        self.verifier.left(str(client.id))

    # -- input --------------------------------------------------------------------------------

    def handles(self, name: str, rest: str) -> bool:
        """Whether the desk takes this command (``/topic lock`` is the desk's, ``/topic TEXT`` the room's)."""
        return name in COMMANDS and (name != "topic" or rest in ("lock", "unlock"))

    def command(self, client: Client, name: str, rest: str, room: RoomName | None = None) -> None:
        """Carry out a command, once the table of powers allows it; ``room``: the room it was typed
        in, if the client said (a page's tab), else the client's current room."""
        if client.id not in self.hub.room:
            return
        if room is None or room not in self.hub.room.rooms.of(client.id):
            room = self.hub.room.current(client.id)
        if name in SECRET_COMMANDS and self._lacks_password(client, name, rest):  # anyone's commands
            self._ask_password(client, name, rest)
            return
        typed_in = TYPED_IN.set(room)
        try:
            self.spawn(self._carry_out(client, name, rest, room))  # the task keeps ``room`` in its context
        finally:
            TYPED_IN.reset(typed_in)

    async def _carry_out(self, client: Client, name: str, rest: str, room: RoomName) -> None:
        """Settle who founded the room (its maker's first command may come before the delivery
        of its entry), ask the table of powers, and only then run the command's handler."""
        await self.standing.claim(client, room)
        if client.id in self.hub.room and not self._denied(client, name, rest, room):
            await COMMANDS[name](self, client, rest)

    def _denied(self, client: Client, name: str, rest: str, room: RoomName) -> bool:
        """Whether the table of powers refuses this command here (and if so, say why): checked
        before any handler runs, so no handler can act beyond its scope."""
        power = POWERS[name]
        named = _named_room(rest) if power.names_room else None
        room = named or room
        role = self.standing.role(client, room)
        member = None
        if power.reach_for(role) in (Reach.MEMBER, Reach.ANYONE) and rest:
            member = self.hub.room.find(rest.split(" ", 1)[0])
        target = Target(self.standing.role_of(member, room), self._in(member, room)) if member is not None else None
        denial = judge(power, role, target)
        if denial is None:
            return False
        self._refuse(client, self._denial_text(denial, power, name, rest, room, member, named), denial.value)
        return True

    def _denial_text(
        self,
        denial: Denial,
        power: Power,
        name: str,
        rest: str,
        room: RoomName,
        member: Member | RemoteMember | None,
        named: RoomName | None = None,
    ) -> str:
        if denial is Denial.NOT_OPERATOR:
            who = "server operators" if power.needs is Role.SERVER_OPERATOR else "operators"
            verb = power.verb or "/" + (f"topic {rest}" if name == "topic" else name)
            if named is not None:  # "Only operators of #dev may read its /modlog"
                return f"Only {who} of {named} may {verb.replace(' /', ' its /')}"
            return f"Only {who} may {verb}"
        nick = member.nick if member is not None else ""
        if denial is Denial.NOT_IN_ROOM:
            return f"{nick} is not in {room}"
        server_operator = self.standing.role_of(member, room) is Role.SERVER_OPERATOR
        above = "a server operator" if server_operator else f"the founder of {room}"
        return f"{nick} is {above}: you cannot /{name} them"

    def _lacks_password(self, client: Client, name: str, rest: str) -> bool:
        return not rest if name == "oper" else self.identities.lacks_password(client, name, rest)

    def _ask_password(self, client: Client, name: str, rest: str) -> None:
        """Take the password on a line of its own, hidden where the client can hide it: the telnet
        door asks the client not to echo it (and says first that a netcat user will see it)."""
        self.awaiting[client.id] = (name, rest)
        self._reply(client, PASSWORD_PROMPTS[client.gateway])
        client.hide_input(True)

    def takes(self, client: Client) -> bool:
        """Whether this client's next line is a password it was asked for (never said to the room)."""
        return client.id in self.awaiting

    def password(self, client: Client, line: str) -> None:
        name, rest = self.awaiting.pop(client.id)
        client.hide_input(False)
        self.spawn(COMMANDS[name](self, client, f"{rest} {clean_text(line)}".strip()))  # cleaned as if typed inline

    def held_back(self, client: Client, command: str, rest: str, room: RoomName) -> tuple[str, str] | None:
        """Why a line this client typed for ``room`` is not sent (a mute, slow mode, a room it is
        kept out of, a locked topic), with its error code; None: the room takes it. ``command``:
        the command's name ("" for something said)."""
        if not self.mutes and not self.rules and not self.roombans:
            return None
        speech = SPEECH.get(command, Speech.NONE) if command else Speech.ROOM
        if speech is not Speech.NONE:
            return self._silenced(client, speech, room)
        if command == "join" and rest:
            return self._shut_out(client, rest.split(" ", 1)[0])
        if command != "topic" or not rest:
            return None
        # a topic is said to the room: a mute holds it back too
        if self.mutes and held(self.mutes, room, self.standing.person(client), self.clock()):
            return f"Topic not set: you are muted in {room}", "muted"
        if self._rules_of(room).topic_locked and self.standing.role(client, room) < Role.ROOM_OPERATOR:
            return f"The topic of {room} is locked: only its operators may change it", "topic_locked"
        return None

    def unsaid(self, client: Client, command: str, rest: str, room: RoomName) -> str:
        """``/part [#ROOM] [REASON]`` (``room``: the one it was typed in) or ``/quit [REASON]``
        without the reason where a mute holds the client, since a reason is said to the room too."""
        first = rest.partition(" ")[0]
        named = first if command != "quit" and first.startswith("#") else ""
        try:
            rooms = self.hub.room.rooms.of(client.id) if command == "quit" else [room_name(named) if named else room]
        except RoomError:
            return rest  # the room says what is wrong with the name
        person, now = self.standing.person(client), self.clock()
        return named if any(held(self.mutes, name, person, now) for name in rooms) else rest

    def _silenced(self, client: Client, speech: Speech, room: RoomName) -> tuple[str, str] | None:
        now = self.clock()
        mute = held(self.mutes, room, self.standing.person(client), now) if self.mutes else None
        if mute is not None:
            left = "until unmuted" if mute.until is None else f"{describe_remaining(mute.until - now)} more"
            return f"Not sent: you are muted in {room} ({left}); you can still read", "muted"
        rules = self.rules.get(room)
        if (
            speech is not Speech.ROOM
            or rules is None
            or not rules.slow
            or self.standing.role(client, room) >= Role.ROOM_OPERATOR
        ):
            return None
        last = self.last_said.setdefault(client.id, {})
        wait = slow_wait(rules, last.get(room), now)
        if wait:
            every, left = describe_duration(rules.slow), describe_remaining(wait)
            return f"Not sent: {room} is in slow mode, one line every {every}: wait {left}", "slow"
        last[room] = now
        return None

    def _shut_out(self, client: Client, typed: str, nick: str | None = None) -> tuple[str, str] | None:
        """Why this client (asking for ``nick``, if not yet in) may not enter the room named
        ``typed`` (a room ban, an invite-only room), or None."""
        try:
            room = room_name(typed)
        except RoomError:
            return None  # the room says what is wrong with the name
        if room in self.hub.room.rooms.of(client.id):
            return None
        now = self.clock()
        person = self.standing.person(client, nick)
        ban = held(self.roombans, room, person, now) if self.roombans else None
        if ban is not None:
            left = "permanent" if ban.until is None else f"{describe_remaining(ban.until - now)} left"
            return f"Not joined: you are banned from {room} ({left}){_colon(ban.reason)}", "room_banned"
        rules = self.rules.get(room)
        if rules is None or rules.admits(person) or self.standing.role(client, room) >= Role.ROOM_OPERATOR:
            return None
        return f"Not joined: {room} is invite-only — ask one of its operators to /invite you", "invite_only"

    def admitted(self, client: Client, nick: str | None, rooms: tuple[str, ...]) -> tuple[str, ...]:
        """The rooms a connecting client asked for that it may enter (not one it is banned from,
        nor an invite-only one it was not invited to: a page reconnecting after /remove does not
        walk back in)."""
        if not (self.rules or self.roombans) or not rooms:
            return rooms
        return tuple(typed for typed in rooms if self._shut_out(client, typed, nick or "") is None)

    def ignored_by(self, event: Event) -> list[Client]:
        """Local clients who ignore the sender of this message."""
        if not self.ignoring or event.kind not in (Kind.MESSAGE, Kind.ACTION):
            return []
        key = nick_key(event.nick)
        return [self.hub.clients[i] for i, keys in self.ignoring.items() if key in keys and i in self.hub.clients]

    def here(self, client: Client) -> RoomName:
        """The room a client's command acts on: the one it was typed in, else its current room."""
        typed = TYPED_IN.get()
        if typed is not None and typed in self.hub.room.rooms.of(client.id):
            return typed
        return self.hub.room.current(client.id)

    # -- announcements ---------------------------------------------------------------------------

    def delivered(self, event: Event) -> None:
        """A moderation announcement in its place in the room's order: carry it out here."""
        try:
            action = Action(event.code)
        except ValueError:  # from a newer release sharing the room: nothing this one knows to do
            return
        if event.process != self.hub.bus.process and action in _RELOADS:
            self.spawn(self._reload_then_enforce(action, event))
        else:
            self._enforce(action, event)

    async def _reload_then_enforce(self, action: Action, event: Event) -> None:
        await self.load()
        self._enforce(action, event)

    def _enforce(self, action: Action, event: Event) -> None:
        if action is Action.OPER:
            self.standing.operators.add(self.standing.session(event.process, event.origin))
        if action in (Action.OPER, Action.OP):
            self.hub.room.badged.add(nick_key(event.to))
        elif action is Action.DEOP:
            self.hub.room.badged.discard(nick_key(event.to))
        elif action is Action.KICK:
            target = self._local(event.to)
            if target is not None:
                self.hub.drop(target, Goodbye.KICKED, _detail(event))
        elif action is Action.BAN:
            self._close_banned()
        elif action is Action.REDACT and event.to.isdigit():
            self.hub.bus.history.redact(int(event.to), event.room)
        elif action in (Action.REMOVE, Action.ROOMBAN):
            self._move_out(event)

    def _close_banned(self) -> None:
        """Close every connection here that a ban now covers."""
        now = self.clock()
        for client in list(self.hub.clients.values()):
            if client.id not in self.hub.room:
                continue
            ban = find_ban(self.bans, client.budget, self.hub.room.nick_of(client.id), now)
            if ban is not None:
                self.hub.drop(client, Goodbye.BANNED, ban.notice(now))

    async def _cover_address(self, client: Client, ban: Ban) -> None:
        """A nick's ban also covers the address its holder came from (never an exempt one: loopback,
        a trusted proxy), stored before the ban is announced so every process reads both."""
        if client.budget is None or client.id not in self.hub.room:
            return
        nick = self.hub.room.nick_of(client.id)
        covering = address_ban(client.budget, nick, ban)
        await self._put_ban(covering)
        detail = f"the address {nick} came from, {covering.expiry(self.clock())}"
        self.audit(Action.BAN, ban.by, nick, detail=detail, address=covering.mask)

    async def _put_ban(self, ban: Ban) -> None:
        key = f"{ban.kind}:{ban.mask}"
        await self.store.put(Table.BANS, key, ban.record())
        self.bans[key] = ban

    def forwarded(self, member: int, event: Event) -> None:
        """Another process banned the nick of a member here: cover its address, then announce the ban."""
        client = self.hub.clients.get(member)
        if client is not None and event.code == Action.BAN.value:
            self.spawn(self._ban_here(client, event))

    async def _ban_here(self, client: Client, event: Event) -> None:
        await self.load()
        ban = find_ban(self.bans, None, event.to, self.clock())
        if ban is not None:
            await self._cover_address(client, ban)
        self._publish(client, Action.BAN, event.to, event.text)

    def _local(self, nick: str) -> Client | None:
        member = self.hub.room.find(nick)
        return self.hub.clients.get(member.id) if member is not None and hasattr(member, "id") else None

    def _announce(self, client: Client, action: Action, target: str, detail: str = "", room: str = "") -> None:
        present = client.id in self.hub.room
        by = self.hub.room.nick_of(client.id) if present else "server"
        text = announcement(action, target, by, detail)
        self.audit(action, by, target, room=room or (self.here(client) if present else SERVER), detail=detail)
        self._publish(client, action, target, text, room)

    def _publish(self, client: Client, action: Action, target: str, text: str, room: str = "") -> None:
        """Put an announcement in ``room``'s order (by default the client's current room), as
        ``client``'s (a shared room takes events only from its members: a ban carried out for
        another process goes out as its target's)."""
        if client.id in self.hub.room:
            nick = self.hub.room.nick_of(client.id)
            room = room or self.here(client)
            event = Event(Kind.MODERATION, nick=nick, to=target, text=text, code=action, origin=client.id, room=room)
            self.hub.bus.publish(event)

    def audit(self, action: str, actor: str, target: str = "", *, room: str = SERVER, **private: str) -> None:
        """Keep a record of ``action`` (an ``Action``, or a ``Noted`` event) taken in ``room`` (by
        default server-wide): in the store's audit log, and on one line of the server's log.
        ``private``: its ``detail`` (a reason), and what only server operators read: an
        ``address``, the text ``removed``."""
        record = AuditRecord.of(self.clock(), room, actor, action, target, **private)
        audit.info("%s", record.text(full=True))
        self.spawn(self.store.append_log(record))

    def _reply(self, client: Client, text: str) -> None:
        self.hub.tell(client, Event(Kind.SYSTEM, text=text))

    def refused_guess(
        self, client: Client, door: Door, target: str, checked: Checked, wrong: str = "Wrong password"
    ) -> bool:
        """Answer a password attempt at ``door`` (for ``target``: a nick; "" for the operator's
        password) that did not prove right (``wrong``: what a wrong one is told), and say whether it did not."""
        if checked.verdict is Verdict.THROTTLED:
            log.info("throttled /%s %s from %s via %s", door, target, client.address, client.gateway)
            wait = describe_remaining(checked.wait)
            self._refuse(client, f"Too many password attempts: try again in {wait}", "rate_limited")
        elif checked.verdict is Verdict.UNCOUNTED:
            self._refuse(client, "Passwords cannot be checked now (the shared store is away): try soon", "degraded")
        elif checked.verdict is Verdict.WRONG:
            self.failed_guess(client, door, target)
            self._refuse(client, wrong, "wrong_password")
        return checked.verdict is not Verdict.PROVED

    def failed_guess(self, client: Client, door: Door, target: str = "") -> None:
        """A wrong password goes in the audit log: what was guessed at, by whom, from where and by
        which door (never the guess itself)."""
        by = self.hub.room.nick_of(client.id) if client.id in self.hub.room else "?"
        action = Noted.WRONG_OPER_PASSWORD if door is Door.OPER else Noted.WRONG_PASSWORD
        self.audit(action, by, target, detail=f"via {client.gateway}", address=client.address)

    def _refuse(self, client: Client, text: str, code: str = "refused") -> None:
        self.hub.error(client, text, code)

    # -- commands -------------------------------------------------------------------------------

    async def _oper(self, client: Client, rest: str) -> None:
        stored = self.policy.operator_password
        if stored is None:
            self._refuse(client, "No operator password is set on this server (CHAT_OPERATOR_PASSWORD)", "not_operator")
            return
        counts = limits(Door.OPER, str(client.id), client.budget, "", False, self.policy.guessing)
        checked = await self.verifier.verify(counts, lambda: passwords.check_password(rest, stored))
        if self.refused_guess(client, Door.OPER, "", checked):
            return
        if client.id in self.hub.room:
            self.standing.operators.add(self.standing.person(client).session)
            self._announce(client, Action.OPER, self.hub.room.nick_of(client.id))

    async def _kick(self, client: Client, rest: str) -> None:
        """A server operator's kick disconnects; a room operator's takes the person out of the room."""
        if POWERS["kick"].scope_for(self.standing.role(client, self.here(client))) is Scope.ROOM:
            await self._take_out(client, rest, "kick")
            return
        nick, _, reason = rest.partition(" ")
        target = self._present(client, nick, "Usage: /kick NICK [reason]")
        if target is not None:
            self._announce(client, Action.KICK, target.nick, reason.strip())

    def _present(
        self, client: Client, nick: str, usage: str, room: RoomName | None = None
    ) -> Member | RemoteMember | None:
        """Whoever uses the nick (in ``room``, if given); else say why no one."""
        if not nick:
            self._refuse(client, usage, "usage")
            return None
        member = self.hub.room.find(nick)
        if member is None:
            self._refuse(client, f"No one here is called {nick}", "no_such_nick")
            return None
        if room and not self._in(member, room):
            self._refuse(client, f"{member.nick} is not in {room}", "not_in_room")
            return None
        return member

    def _in(self, member: Member | RemoteMember | None, room: RoomName) -> bool:
        state = self.hub.room.rooms.get(room)
        if state is None or member is None:
            return False
        if isinstance(member, RemoteMember):
            return nick_key(member.nick) in state.remote
        return member.id in state.members

    async def _remove(self, client: Client, rest: str) -> None:
        await self._take_out(client, rest, "remove")

    async def _take_out(self, client: Client, rest: str, verb: str) -> None:
        room = self.here(client)
        nick, _, reason = rest.partition(" ")
        target = self._present(client, nick, f"Usage: /{verb} NICK [reason]", room)
        if target is None:
            return
        if room == self.hub.room.rooms.default:
            self._refuse(client, f"{room} is where everyone arrives: no one is taken out of it (/mute holds)", "usage")
            return
        await self._uninvite(room, self.standing.person_of(target))  # an invitation is not for coming back
        self._announce(client, Action.REMOVE, target.nick, reason.strip(), room)

    async def _uninvite(self, room: RoomName, person: Person) -> None:
        rules = self.rules.get(room)
        if rules is not None and any(invited.same(person) for invited in rules.invited):
            await self._set_rules(replace(rules, invited=tuple(i for i in rules.invited if not i.same(person))))

    def _move_out(self, event: Event) -> None:
        """The process holding a removed member takes it out of the room (into the default room if
        it was its only one), as if it had typed /part (even while it is asked for a password)."""
        target = self._local(event.to)
        if target is None or event.room not in self.hub.room.rooms.of(target.id):
            return
        default = self.hub.room.rooms.default
        if self.hub.room.rooms.of(target.id) == [event.room]:
            self.hub.act_for(target, f"/join {default}")
        by = f"removed by {event.nick}" + (f": {_detail(event)}" if _detail(event) else "")
        self.hub.act_for(target, f"/part {event.room} {by}")  # not a password it was asked for

    async def _ban(self, client: Client, rest: str) -> None:
        try:
            request = BanRequest.parse(rest)
        except ArgumentError as problem:
            self._refuse(client, str(problem), "usage")
            return
        if request.kind is BanKind.ADDRESS and self.hub.budget(request.mask.split("/")[0]) is None:
            self._refuse(client, f"{request.label} is loopback or a trusted proxy: a ban would shut out all behind it")
            return
        by = self.hub.room.nick_of(client.id)
        ban = request.ban(by, self.clock())
        await self._put_ban(ban)
        detail = f"{describe_duration(request.duration)}" + (f", {request.reason}" if request.reason else "")
        holder = self.hub.room.find(request.label) if ban.kind is BanKind.NICK else None
        if isinstance(holder, RemoteMember):  # its process knows the address: it covers it, then announces
            text = announcement(Action.BAN, holder.nick, by, detail)
            self.audit(Action.BAN, by, holder.nick, detail=detail)
            event = Event(Kind.MODERATION, nick=by, to=holder.nick, text=text, code=Action.BAN)
            self.hub.bus.forward(holder.process, holder.conn, event)
            return
        if holder is not None and holder.id in self.hub.clients:
            await self._cover_address(self.hub.clients[holder.id], ban)
        self._announce(client, Action.BAN, holder.nick if holder else request.label, detail)

    async def _unban(self, client: Client, rest: str) -> None:
        target = rest.strip()
        matching = lifted(self.bans, target)
        if not matching:
            usage = f"No ban on {target!r}: /bans lists them" if target else "Usage: /unban NICK|ADDRESS|CIDR"
            self._refuse(client, usage, "usage")
            return
        for key in matching:
            await self.store.delete(Table.BANS, key)
            self.bans.pop(key, None)
        self._announce(client, Action.UNBAN, target)

    async def _bans(self, client: Client, rest: str) -> None:
        now = self.clock()
        active = [ban for ban in self.bans.values() if ban.active(now)]
        if not active:
            self._reply(client, "No bans")
            return
        # each line cleaned whole: a ban stored before reasons were cleaned must not add lines of its own
        lines = [clean_text(f"{b.label} ({b.kind}) by {b.by}, {b.expiry(now)}{_colon(b.reason)}") for b in active]
        self._reply(client, "\n".join([f"{len(active)} ban{'s' if len(active) != 1 else ''}:", *lines]))

    async def _mute(self, client: Client, rest: str) -> None:
        await self._sanction(client, rest, Action.MUTE)

    async def _unmute(self, client: Client, rest: str) -> None:
        await self._lift(client, rest, Action.UNMUTE)

    async def _roomban(self, client: Client, rest: str) -> None:
        await self._sanction(client, rest, Action.ROOMBAN)

    async def _roomunban(self, client: Client, rest: str) -> None:
        await self._lift(client, rest, Action.ROOMUNBAN)

    def _sanctions(self, action: Action) -> tuple[Table, dict[str, Sanction]]:
        """Where a mute or a room ban (or their lifting) is kept."""
        if action in (Action.MUTE, Action.UNMUTE):
            return Table.MUTES, self.mutes
        return Table.ROOM_BANS, self.roombans

    async def _sanction(self, client: Client, rest: str, action: Action) -> None:
        """``/mute NICK [DURATION]`` or ``/roomban NICK [DURATION] [reason]``: on the person, not the
        nick (see ``Person.covers``), in the room typed in; ``/ban``'s grammar for the duration."""
        room = self.here(client)
        banning = action is Action.ROOMBAN
        nick, _, tail = rest.partition(" ")
        try:
            duration, extra = take_duration(tail, default=None)
        except ArgumentError as problem:
            self._refuse(client, str(problem), "usage")
            return
        usage = "Usage: /roomban NICK [DURATION] [reason]" if banning else "Usage: /mute NICK [DURATION]"
        target = self._present(client, nick, usage, room)
        if target is None:
            return
        if extra and not banning:
            self._refuse(client, f"{extra!r} is not a duration (30s, 10m, 2h, 7d or perm)", "usage")
            return
        if banning and room == self.hub.room.rooms.default:
            self._refuse(client, f"{room} is where everyone arrives: no one is kept out of it (/mute holds)", "usage")
            return
        by = self.hub.room.nick_of(client.id)
        until = None if duration is None else self.clock() + duration
        sanction = Sanction(room, self.standing.person_of(target), by, until, extra if banning else "")
        table, kept = self._sanctions(action)
        await self.store.put(table, sanction.key, sanction.record())
        kept[sanction.key] = sanction
        if banning:
            await self._uninvite(room, sanction.person)
        detail = describe_duration(duration) + (f", {extra}" if banning and extra else "")
        self._announce(client, action, target.nick, detail, room)

    async def _lift(self, client: Client, rest: str, action: Action) -> None:
        """``/unmute NICK`` or ``/roomunban NICK``: whoever uses the nick now, or was held under it;
        never by the one it holds (a muted operator does not unmute themselves)."""
        room = self.here(client)
        nick = rest.strip()
        if not nick:
            self._refuse(client, f"Usage: /{action.value} NICK", "usage")
            return
        table, kept = self._sanctions(action)
        member = self.hub.room.find(nick)
        keys = naming(kept, room, self.standing.person_of(member) if member is not None else None, nick)
        if not keys:
            state = "muted" if action is Action.UNMUTE else f"banned from {room}"
            self._refuse(client, f"{nick} is not {state}", "usage")
            return
        me = self.standing.person(client)
        if self.standing.role(client, room) < Role.SERVER_OPERATOR and any(kept[k].person.covers(me) for k in keys):
            state = "mute" if action is Action.UNMUTE else "ban from " + room
            self._refuse(client, f"You cannot lift your own {state}: another operator can", Denial.OUTRANKED.value)
            return
        label = member.nick if member is not None else kept[keys[0]].person.nick
        for key in keys:
            kept.pop(key, None)
            await self.store.delete(table, key)
        self._announce(client, action, label, "", room)

    async def _roombans(self, client: Client, rest: str) -> None:
        room, now = self.here(client), self.clock()
        active = [ban for ban in self.roombans.values() if ban.room == room and ban.active(now)]
        if not active:
            self._reply(client, f"No one is banned from {room}")
            return
        lines = [
            f"{ban.person.nick} by {ban.by}, "
            + ("permanent" if ban.until is None else f"{describe_remaining(ban.until - now)} left")
            + _colon(ban.reason)
            for ban in active
        ]
        self._reply(client, "\n".join([f"Banned from {room}: {len(active)}", *lines]))

    async def _slow(self, client: Client, rest: str) -> None:
        text = rest.strip().lower()
        seconds = 0 if text in ("0", "off") else int(text) if text.isascii() and text.isdigit() else -1
        if not 0 <= seconds <= MAX_SLOW:
            self._refuse(client, f"Usage: /slow SECONDS — 1 to {MAX_SLOW}, or off", "usage")
            return
        room = self.here(client)
        await self._set_rules(replace(self._rules_of(room), slow=float(seconds)))
        detail = f"one line every {describe_duration(seconds)}" if seconds else "off"
        self._announce(client, Action.SLOW, room, detail)

    def _rules_of(self, room: str) -> RoomRules:
        return self.rules.get(room) or RoomRules(room)

    async def _set_rules(self, rules: RoomRules) -> None:
        await self.store.put(Table.ROOMS, rules.room, rules.record())
        self.rules[rules.room] = rules
        if rules.slow:
            self.slow.add(rules.room)
        else:
            self.slow.discard(rules.room)

    async def _lock(self, client: Client, rest: str) -> None:
        await self._invite_only(client, Action.LOCK, True)

    async def _unlock(self, client: Client, rest: str) -> None:
        await self._invite_only(client, Action.UNLOCK, False)

    async def _invite_only(self, client: Client, action: Action, locked: bool) -> None:
        room = self.here(client)
        if locked and room == self.hub.room.rooms.default:
            self._refuse(client, f"{room} is where everyone arrives: it cannot be invite-only", "usage")
            return
        await self._set_rules(replace(self._rules_of(room), invite_only=locked, invited=()))
        self._announce(client, action, room, "/invite NICK lets someone in" if locked else "")

    async def _invite(self, client: Client, rest: str) -> None:
        room = self.here(client)
        try:
            nick = normalize_nick(rest)
        except NickError as problem:
            self._refuse(client, f"Usage: /invite NICK ({problem})", "usage")
            return
        rules = self._rules_of(room)
        if not rules.invite_only:
            self._refuse(client, f"{room} is open to all: /lock makes it invite-only", "usage")
            return
        invited = self._invitee(nick)
        if invited is None:
            self._refuse(client, f"No one here is called {nick}, and it is not a registered nick", "no_such_nick")
            return
        await self._set_rules(replace(rules, invited=(*rules.invited, invited)))
        self._announce(client, Action.INVITE, invited.nick, f"/join {room}")

    def _invitee(self, nick: str) -> Person | None:
        """Whom ``/invite nick`` lets in: whoever uses the nick now (a guest for its session and
        address), else the nick's registration; None if neither."""
        member = self.hub.room.find(nick)
        if member is not None:
            return self.standing.person_of(member)
        registration = self.identities.nicks.get(nick_key(nick))
        if registration is None:
            return None
        return Person(registration.nick, registration.mask, registration.registered)

    async def _topic_lock(self, client: Client, rest: str) -> None:
        action = Action.TOPIC_LOCK if rest == "lock" else Action.TOPIC_UNLOCK
        room = self.here(client)
        await self._set_rules(replace(self._rules_of(room), topic_locked=action is Action.TOPIC_LOCK))
        self._announce(client, action, room)

    async def _redact(self, client: Client, rest: str) -> None:
        text = rest.strip().lstrip("#")
        room = self.here(client)
        wanted = text.isascii() and text.isdigit() and len(text) < 19
        said = self.hub.bus.history.find(int(text), room) if wanted else None
        if said is None:
            self._refuse(client, f"No message #{text} in the history kept: /redact ID" if text else "Usage: /redact ID")
            return
        author = self.hub.room.find(said.nick)  # nobody removes the words of someone above them
        if author is not None and self.standing.role_of(author, room) > self.standing.role(client, room):
            text = self._denial_text(Denial.OUTRANKED, POWERS["redact"], "redact", rest, room, author)
            self._refuse(client, text, Denial.OUTRANKED.value)
            return
        await self._stored(said.id)
        await self.store.redact(said.id, room)
        by = self.hub.room.nick_of(client.id)
        announced = announcement(Action.REDACT, f"a message from {said.nick}", by)
        self.audit(Action.REDACT, by, f"a message from {said.nick}", room=room, detail=f"#{said.id}", removed=said.text)
        self._publish(client, Action.REDACT, str(said.id), announced, room)

    async def _stored(self, id: int) -> None:
        """Wait (a moment at most: the history writer's lag is bounded) until event ``id`` is saved,
        so deleting it cannot come before the writer adds it."""
        deadline = self.clock() + STORE_WAIT
        while (self.hub.bus.persisted_id or id) < id and self.clock() < deadline:
            await asyncio.sleep(0.05)

    async def _op(self, client: Client, rest: str) -> None:
        await self._grant(client, rest, Action.OP)

    async def _deop(self, client: Client, rest: str) -> None:
        await self._grant(client, rest, Action.DEOP)

    async def _grant(self, client: Client, rest: str, action: Action) -> None:
        """``/op NICK`` grants the room to the registration its holder proved (a lapse ends it);
        ``/deop NICK`` takes it back, whether or not they are here."""
        room = self.here(client)
        nick = rest.strip()
        if action is Action.DEOP:
            key = op_key(room, nick_key(nick)) if nick else ""
            grant = self.standing.room_ops.get(key)
            if grant is None:
                self._refuse(client, f"{nick} is not a room operator" if nick else "Usage: /deop NICK", "usage")
                return
            await self.store.delete(Table.OPS, key)
            self.standing.room_ops.pop(key, None)
            self._announce(client, action, grant.nick, room)
            return
        usage = "Usage: /op NICK — a registered nick: they /register first"
        member = self._present(client, nick, usage, room)
        if member is None:
            return
        person = self.standing.person_of(member)
        if not person.registration:
            self._refuse(client, usage, "usage")
            return
        grant = Person(member.nick, person.registration, person.since)
        key = op_key(room, person.registration)
        await self.store.put(Table.OPS, key, grant.record())
        self.standing.room_ops[key] = grant
        self._announce(client, action, member.nick, room)

    async def _modlog(self, client: Client, rest: str) -> None:
        """``/modlog [#ROOM] [N]``: a room's operators read its records, without the addresses and
        removed text in them; server operators read every record (or one room's) in full."""
        try:
            typed, count = _modlog_request(rest)
        except ArgumentError as problem:
            self._refuse(client, str(problem), "usage")
            return
        room = typed or self.here(client)
        role = self.standing.role(client, room)
        full = role is Role.SERVER_OPERATOR
        if role < Role.ROOM_OPERATOR:
            text = f"Only operators of {room} may read its /modlog" if typed else "Only operators may read /modlog"
            self._refuse(client, text, "not_operator")
            return
        scope = room if typed or not full else None
        records = await self.store.log(count, scope)
        where = f" in {scope}" if scope else ""
        if not records:
            self._reply(client, f"No moderation actions{where} yet")
            return
        heading = f"Last {len(records)} moderation actions{where} (UTC):"
        self._reply(client, "\n".join([heading, *(record.line(full) for record in records)]))

    async def _ignore(self, client: Client, rest: str) -> None:
        nick = rest.strip()
        if not nick:
            listed = sorted(self.ignoring.get(client.id, ()))
            self._reply(client, f"Ignoring: {', '.join(listed)}" if listed else "Usage: /ignore NICK (you ignore none)")
            return
        self.ignoring.setdefault(client.id, set()).add(nick_key(nick))
        self._reply(client, f"Ignoring {nick}: you will not see their lines this session (/unignore {nick} to undo)")

    async def _unignore(self, client: Client, rest: str) -> None:
        keys = self.ignoring.get(client.id, set())
        nick = rest.strip()
        key = nick_key(nick)
        if key not in keys:
            self._refuse(client, f"You are not ignoring {nick}" if nick else "Usage: /unignore NICK", "usage")
            return
        keys.discard(key)
        if not keys:
            del self.ignoring[client.id]
        self._reply(client, f"No longer ignoring {nick}")

    def joined(self, client: Client) -> None:
        """A room operator who has proved their nick is one again: each of their rooms is told (and
        shows the badge)."""
        key = self.identities.identified.get(client.id)
        if key is None or client.id not in self.hub.room or nick_key(self.hub.room.nick_of(client.id)) != key:
            return
        nick = self.hub.room.nick_of(client.id)
        for room in self.hub.room.rooms.of(client.id):
            if self.standing.role(client, room) in (Role.ROOM_OPERATOR, Role.FOUNDER):
                self._publish(client, Action.OP, nick, f"{nick} is an operator of {room} (identified)", room)

    def entered(self, event: Event) -> None:
        """Someone here entered a room: if they made it, they found it (see ``Standing.claim``)."""
        client = self.hub.clients.get(event.origin)
        if event.process == self.hub.bus.process and client is not None and event.room:
            self.spawn(self.standing.claim(client, RoomName(event.room)))

    def founded(self, nick: str, room: RoomName) -> None:
        """``Standing.claim`` made ``nick`` the founder of ``room``: the audit log keeps it."""
        self.audit(Noted.FOUNDED, nick, room, room=room)


def _modlog_request(rest: str) -> tuple[str, int]:
    """``/modlog [#ROOM] [N]`` read: the room typed ("" for none) and how many records."""
    room, count = "", MODLOG_SHOWN
    for word in rest.split():
        if word.startswith("#") and not room:
            try:
                room = room_name(word)
            except RoomError as problem:
                raise ArgumentError(f"Usage: /modlog [#ROOM] [N] — {problem}") from None
        elif word.isascii() and word.isdigit() and 0 < int(word) <= MODLOG_MOST:
            count = int(word)
        else:
            raise ArgumentError(f"Usage: /modlog [#ROOM] [N] — N from 1 to {MODLOG_MOST}")
    return room, count


def _named_room(rest: str) -> RoomName | None:
    """The room a command's first argument names (``#dev``), if it names one."""
    first = rest.split(" ", 1)[0]
    try:
        return room_name(first) if first.startswith("#") else None
    except RoomError:
        return None  # the handler says what is wrong with it


def _colon(reason: str) -> str:
    return f": {reason}" if reason else ""


def _detail(event: Event) -> str:
    """The reason part of an announcement ("ann was kicked by op: flooding" → "flooding")."""
    _, _, reason = event.text.partition(": ")
    return reason


_RELOADS = frozenset(
    {
        Action.BAN,
        Action.UNBAN,
        Action.MUTE,
        Action.UNMUTE,
        Action.OP,
        Action.DEOP,
        Action.SLOW,
        Action.LOCK,
        Action.UNLOCK,
        Action.INVITE,
        Action.TOPIC_LOCK,
        Action.TOPIC_UNLOCK,
        Action.ROOMBAN,
        Action.ROOMUNBAN,
    }
)
"""Announcements after which another process re-reads the store."""

COMMANDS: dict[str, Handler] = {
    "oper": Moderation._oper,
    "kick": Moderation._kick,
    "remove": Moderation._remove,
    "ban": Moderation._ban,
    "unban": Moderation._unban,
    "bans": Moderation._bans,
    "mute": Moderation._mute,
    "unmute": Moderation._unmute,
    "roomban": Moderation._roomban,
    "roomunban": Moderation._roomunban,
    "roombans": Moderation._roombans,
    "slow": Moderation._slow,
    "lock": Moderation._lock,
    "unlock": Moderation._unlock,
    "invite": Moderation._invite,
    "topic": Moderation._topic_lock,
    "redact": Moderation._redact,
    "op": Moderation._op,
    "deop": Moderation._deop,
    "modlog": Moderation._modlog,
    "ignore": Moderation._ignore,
    "unignore": Moderation._unignore,
    "register": lambda desk, client, rest: desk.identities.register(client, rest),
    "identify": lambda desk, client, rest: desk.identities.identify(client, rest),
    "token": lambda desk, client, rest: desk.identities.token(client, rest),
}

"""The hub's moderation desk: operators, kicks, bans, mutes, slow mode, redaction and ignores.

The rules (who may, how long, whom a ban covers) are the domain's (``app.domain.moderation``);
the records are the store's (``app.bus.moderation``); protected nicks have a desk of their own
(``app.identities``), to which /register and /identify are routed. This desk reads commands,
checks the rules, writes the records, and announces each action to the room as a public
``moderation`` event. Every process acts on those announcements as they are delivered, in the
room's one order: the process holding a kicked or banned nick closes its connection, and the
others re-read what changed from the shared store, so a ban applies in every process at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, TypeVar

from redis.exceptions import RedisError

from app import passwords
from app.bus.moderation import ModerationStore, Table
from app.domain.events import Event, Kind
from app.domain.goodbye import Goodbye, Refusal
from app.domain.identity import Attempts, Registration
from app.domain.moderation import (
    MAIN_ROOM,
    Action,
    ArgumentError,
    Ban,
    BanKind,
    BanRequest,
    Mute,
    Role,
    RoomRules,
    Speech,
    address_ban,
    announcement,
    describe_duration,
    describe_remaining,
    find_ban,
    lifted,
    may,
    mute_key,
    op_key,
    slow_wait,
    take_duration,
)
from app.domain.nicks import NickError, nick_key, normalize_nick
from app.domain.room import RemoteMember
from app.identities import Identities
from app.passwords import Verifier

if TYPE_CHECKING:
    from app.hub import Client, Hub

log = logging.getLogger("app.moderation")
audit = logging.getLogger("app.audit")

MODLOG_SHOWN = 20
MAX_SLOW = 3600
WATCH_INTERVAL = 1.0
"""Seconds between looks at a shared store's version: how soon another process's change is seen here."""
STORE_WAIT = 5.0
PASSWORD_PROMPT = "Type the password on the next line (a telnet client hides it; netcat shows what you type)"
SECRET_COMMANDS = frozenset({"oper", "register", "identify"})
"""Commands whose password, when left out, is asked for on a line of its own."""


@dataclass(frozen=True, slots=True)
class Policy:
    operator_password: str | None = None
    """``CHAT_OPERATOR_PASSWORD``: plain, or the hashed form ``python -m app.passwords`` prints."""
    nick_expiry_days: float = 90.0


Handler = Callable[["Moderation", "Client", str], Awaitable[None]]
T = TypeVar("T")


class Moderation:
    """Moderation state for this process, kept in step with the store and the room's announcements."""

    def __init__(self, hub: Hub, store: ModerationStore, policy: Policy, clock: Callable[[], float] = time.time):
        self.hub = hub
        self.store = store
        self.policy = policy
        self.clock = clock
        self.bans: dict[str, Ban] = {}
        self.mutes: dict[str, Mute] = {}
        self.rules: dict[str, RoomRules] = {}
        """Each room's standing rules, by name (rooms without any have none here)."""
        self.slow: set[str] = set()
        """Rooms in slow mode (empty: no room is, and lines are not even timed)."""
        self.last_said: dict[int, float] = {}
        """When each connection last said something to a room in slow mode."""
        self.room_ops: set[str] = set()
        """``op_key(room, nick)`` of every room operator grant (always to a registered nick)."""
        self.operators: set[int] = set()
        """Connections here that proved the server's operator password (for their session only)."""
        self.verifier = Verifier(Attempts(), clock)
        self.identities = Identities(self, store, self.verifier, policy.nick_expiry_days)
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
        self.rules = await self._records(Table.ROOMS, RoomRules.read, lambda rules: True)
        self.slow = {name for name, rules in self.rules.items() if rules.slow}
        self.bans = await self._records(Table.BANS, Ban.read, lambda ban: ban.active(now))
        self.mutes = await self._records(Table.MUTES, Mute.read, lambda mute: mute.active(now))
        self.room_ops = set(await self.store.read(Table.OPS))
        days = self.policy.nick_expiry_days
        self.identities.replace_all(
            await self._records(Table.NICKS, Registration.read, lambda r: not r.lapsed(now, days))
        )

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

    def spawn(self, job: Awaitable[None]) -> None:
        task = asyncio.ensure_future(job)
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
        self.operators.discard(client.id)
        for state in (self.ignoring, self.awaiting, self.last_said):
            state.pop(client.id, None)
        self.identities.left(client)

    # -- input --------------------------------------------------------------------------------

    def handles(self, name: str, rest: str) -> bool:
        """Whether the desk takes this command (``/topic lock`` is the desk's, ``/topic TEXT`` the room's)."""
        return name in COMMANDS and (name != "topic" or rest in ("lock", "unlock"))

    def command(self, client: Client, name: str, rest: str) -> None:
        if name in SECRET_COMMANDS and self._lacks_password(client, name, rest):
            self._ask_password(client, name, rest)
            return
        self.spawn(COMMANDS[name](self, client, rest))

    def _lacks_password(self, client: Client, name: str, rest: str) -> bool:
        return not rest if name == "oper" else self.identities.lacks_password(client, name, rest)

    def _ask_password(self, client: Client, name: str, rest: str) -> None:
        """Take the password on a line of its own, hidden where the client can hide it: the telnet
        door asks the client not to echo it (and says first that a netcat user will see it)."""
        self.awaiting[client.id] = (name, rest)
        self._reply(client, PASSWORD_PROMPT)
        client.hide_input(True)

    def takes(self, client: Client) -> bool:
        """Whether this client's next line is a password it was asked for (never said to the room)."""
        return client.id in self.awaiting

    def password(self, client: Client, line: str) -> None:
        name, rest = self.awaiting.pop(client.id)
        client.hide_input(False)
        self.spawn(COMMANDS[name](self, client, f"{rest} {line.strip()}".strip()))

    def held_back(self, client: Client, speech: Speech) -> tuple[str, str] | None:
        """Why what this client says is not sent (muted, or slow mode), with its error code; None: it is sent."""
        now = self.clock()
        mute = self.mutes.get(mute_key(MAIN_ROOM, self.hub.room.nick_of(client.id))) if self.mutes else None
        if mute is not None and mute.active(now):
            left = "until unmuted" if mute.until is None else f"{describe_remaining(mute.until - now)} more"
            return f"Not sent: you are muted in {MAIN_ROOM} ({left}); you can still read", "muted"
        if speech is not Speech.ROOM or not self.slow or self.role(client) >= Role.ROOM_OPERATOR:
            return None
        rules = self.rules.get(MAIN_ROOM)
        wait = slow_wait(rules, self.last_said.get(client.id), now)
        if rules is not None and wait:
            every = describe_duration(rules.slow)
            return (
                f"Not sent: {MAIN_ROOM} is in slow mode, one line every {every}: wait {describe_remaining(wait)}",
                "slow",
            )
        if rules is not None:
            self.last_said[client.id] = now
        return None

    def ignored_by(self, event: Event) -> list[Client]:
        """Local clients who ignore the sender of this message."""
        if not self.ignoring or event.kind not in (Kind.MESSAGE, Kind.ACTION):
            return []
        key = nick_key(event.nick)
        return [self.hub.clients[i] for i, keys in self.ignoring.items() if key in keys and i in self.hub.clients]

    def role(self, client: Client, room: str = MAIN_ROOM) -> Role:
        if client.id in self.operators:
            return Role.SERVER_OPERATOR
        key = self.identities.identified.get(client.id)
        if key is not None and op_key(room, key) in self.room_ops:
            return Role.ROOM_OPERATOR
        return Role.MEMBER

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
            self.hub.bus.history.redact(int(event.to))

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
        self.audit(f"{ban.by} banned {covering.label} ({covering.expiry(self.clock())}) with the nick")

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

    def _announce(self, client: Client, action: Action, target: str, detail: str = "") -> None:
        by = self.hub.room.nick_of(client.id) if client.id in self.hub.room else "server"
        text = announcement(action, target, by, detail)
        self.audit(text)
        self._publish(client, action, target, text)

    def _publish(self, client: Client, action: Action, target: str, text: str) -> None:
        """Put an announcement in the room's order, as ``client``'s (a shared room takes events only
        from its members: a ban carried out for another process goes out as its target's)."""
        if client.id in self.hub.room:
            nick = self.hub.room.nick_of(client.id)
            self.hub.bus.publish(Event(Kind.MODERATION, nick=nick, to=target, text=text, code=action, origin=client.id))

    def audit(self, text: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(self.clock()))
        audit.info("%s", text)
        self.spawn(self.store.append_log(f"{stamp} {text}"))

    def _reply(self, client: Client, text: str) -> None:
        self.hub.tell(client, Event(Kind.SYSTEM, text=text))

    def _refuse(self, client: Client, text: str, code: str = "refused") -> None:
        self.hub.error(client, text, code)

    def _allowed(self, client: Client, action: Action) -> bool:
        if may(self.role(client), action):
            return True
        who = "server operators" if action.needs is Role.SERVER_OPERATOR else "operators"
        self._refuse(client, f"Only {who} may /{action.value.replace('_', ' ')}", "not_operator")
        return False

    # -- commands -------------------------------------------------------------------------------

    async def _oper(self, client: Client, rest: str) -> None:
        stored = self.policy.operator_password
        if stored is None:
            self._refuse(client, "No operator password is set on this server (CHAT_OPERATOR_PASSWORD)", "not_operator")
            return
        refused = await self.verifier.verify((f"oper {client.budget}",), lambda: passwords.check_password(rest, stored))
        if refused is not None:
            self.hub.error(client, *refused)
            return
        if client.id in self.hub.room:
            self.operators.add(client.id)
            self._announce(client, Action.OPER, self.hub.room.nick_of(client.id))

    async def _kick(self, client: Client, rest: str) -> None:
        if not self._allowed(client, Action.KICK):
            return
        nick, _, reason = rest.partition(" ")
        target = self._present(client, nick, "Usage: /kick NICK [reason]")
        if target is not None:
            self._announce(client, Action.KICK, target, reason.strip())

    def _present(self, client: Client, nick: str, usage: str) -> str | None:
        """The nick as the room spells it, if someone here uses it; else say why not."""
        if not nick:
            self._refuse(client, usage, "usage")
            return None
        member = self.hub.room.find(nick)
        if member is None:
            self._refuse(client, f"No one here is called {nick}", "no_such_nick")
            return None
        return member.nick

    async def _ban(self, client: Client, rest: str) -> None:
        if not self._allowed(client, Action.BAN):
            return
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
            self.audit(text)
            event = Event(Kind.MODERATION, nick=by, to=holder.nick, text=text, code=Action.BAN)
            self.hub.bus.forward(holder.process, holder.conn, event)
            return
        if holder is not None and holder.id in self.hub.clients:
            await self._cover_address(self.hub.clients[holder.id], ban)
        self._announce(client, Action.BAN, holder.nick if holder else request.label, detail)

    async def _unban(self, client: Client, rest: str) -> None:
        if not self._allowed(client, Action.UNBAN):
            return
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
        if not self._allowed(client, Action.BAN):
            return
        now = self.clock()
        active = [ban for ban in self.bans.values() if ban.active(now)]
        if not active:
            self._reply(client, "No bans")
            return
        lines = [f"{b.label} ({b.kind}) by {b.by}, {b.expiry(now)}{_colon(b.reason)}" for b in active]
        self._reply(client, "\n".join([f"{len(active)} bans:", *lines]))

    async def _mute(self, client: Client, rest: str) -> None:
        if not self._allowed(client, Action.MUTE):
            return
        nick, _, tail = rest.partition(" ")
        try:
            duration, extra = take_duration(tail, default=None)
        except ArgumentError as problem:
            self._refuse(client, str(problem), "usage")
            return
        target = self._present(client, nick, "Usage: /mute NICK [DURATION]")
        if target is None:
            return
        if extra:
            self._refuse(client, f"{extra!r} is not a duration (30s, 10m, 2h, 7d or perm)", "usage")
            return
        now = self.clock()
        by = self.hub.room.nick_of(client.id)
        mute = Mute(MAIN_ROOM, nick_key(target), target, by, None if duration is None else now + duration)
        await self.store.put(Table.MUTES, mute.key, mute.record())
        self.mutes[mute.key] = mute
        self._announce(client, Action.MUTE, target, describe_duration(duration))

    async def _unmute(self, client: Client, rest: str) -> None:
        if not self._allowed(client, Action.UNMUTE):
            return
        key = mute_key(MAIN_ROOM, rest.strip()) if rest.strip() else ""
        if key not in self.mutes:
            self._refuse(client, f"{rest.strip()} is not muted" if key else "Usage: /unmute NICK", "usage")
            return
        mute = self.mutes.pop(key)
        await self.store.delete(Table.MUTES, key)
        self._announce(client, Action.UNMUTE, mute.nick)

    async def _slow(self, client: Client, rest: str) -> None:
        if not self._allowed(client, Action.SLOW):
            return
        text = rest.strip().lower()
        seconds = 0 if text in ("0", "off") else int(text) if text.isascii() and text.isdigit() else -1
        if not 0 <= seconds <= MAX_SLOW:
            self._refuse(client, f"Usage: /slow SECONDS — 1 to {MAX_SLOW}, or off", "usage")
            return
        await self._set_rules(replace(self._rules_of(MAIN_ROOM), slow=float(seconds)))
        detail = f"one line every {describe_duration(seconds)}" if seconds else "off"
        self._announce(client, Action.SLOW, MAIN_ROOM, detail)

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
        if not self._allowed(client, action):
            return
        room = MAIN_ROOM
        await self._set_rules(replace(self._rules_of(room), invite_only=locked, invited=()))
        self._announce(client, action, room, "/invite NICK lets someone in" if locked else "")

    async def _invite(self, client: Client, rest: str) -> None:
        if not self._allowed(client, Action.INVITE):
            return
        room = MAIN_ROOM
        try:
            nick = normalize_nick(rest)
        except NickError as problem:
            self._refuse(client, f"Usage: /invite NICK ({problem})", "usage")
            return
        rules = self._rules_of(room)
        if not rules.invite_only:
            self._refuse(client, f"{room} is open to all: /lock makes it invite-only", "usage")
            return
        await self._set_rules(replace(rules, invited=(*rules.invited, nick_key(nick))))
        self._announce(client, Action.INVITE, nick, f"/join {room}")

    async def _topic_lock(self, client: Client, rest: str) -> None:
        action = Action.TOPIC_LOCK if rest == "lock" else Action.TOPIC_UNLOCK
        if not self._allowed(client, action):
            return
        room = MAIN_ROOM
        await self._set_rules(replace(self._rules_of(room), topic_locked=action is Action.TOPIC_LOCK))
        self._announce(client, action, room)

    async def _redact(self, client: Client, rest: str) -> None:
        if not self._allowed(client, Action.REDACT):
            return
        text = rest.strip().lstrip("#")
        said = self.hub.bus.history.find(int(text)) if text.isascii() and text.isdigit() and len(text) < 19 else None
        if said is None:
            self._refuse(client, f"No message #{text} in the history kept: /redact ID" if text else "Usage: /redact ID")
            return
        await self._stored(said.id)
        await self.store.redact(said.id)
        by = self.hub.room.nick_of(client.id)
        announced = announcement(Action.REDACT, f"a message from {said.nick}", by)
        self.audit(f"{announced}: #{said.id} [{said.nick}] {said.text}")
        self._publish(client, Action.REDACT, str(said.id), announced)

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
        if not self._allowed(client, action):
            return
        try:
            nick = normalize_nick(rest) if rest.strip() else ""
        except NickError as problem:
            self._refuse(client, f"Usage: /{action.value} NICK ({problem})", "usage")
            return
        registration = self.identities.nicks.get(nick_key(nick)) if nick else None
        if registration is None:
            self._refuse(client, f"Usage: /{action.value} NICK — a registered nick: they /register first", "usage")
            return
        key = op_key(MAIN_ROOM, registration.nick)
        if action is Action.OP:
            await self.store.put(Table.OPS, key, registration.nick)
            self.room_ops.add(key)
        elif not await self.store.delete(Table.OPS, key):
            self._refuse(client, f"{registration.nick} is not a room operator", "usage")
            return
        else:
            self.room_ops.discard(key)
        self._announce(client, action, registration.nick, MAIN_ROOM)

    async def _modlog(self, client: Client, rest: str) -> None:
        if self.role(client) < Role.ROOM_OPERATOR:
            self._refuse(client, "Only operators may read /modlog", "not_operator")
            return
        entries = await self.store.log(MODLOG_SHOWN)
        heading = f"Last {len(entries)} moderation actions (UTC):"
        self._reply(client, "\n".join([heading, *entries]) if entries else "No moderation actions yet")

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
        """A room operator who has proved their nick is one again: the room is told (and shows the badge)."""
        key = self.identities.identified.get(client.id)
        if key is not None and op_key(MAIN_ROOM, key) in self.room_ops and client.id in self.hub.room:
            nick = self.hub.room.nick_of(client.id)
            if nick_key(nick) == key:
                self._publish(client, Action.OP, nick, f"{nick} is a room operator of {MAIN_ROOM} (identified)")


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
    }
)
"""Announcements after which another process re-reads the store."""

COMMANDS: dict[str, Handler] = {
    "oper": Moderation._oper,
    "kick": Moderation._kick,
    "ban": Moderation._ban,
    "unban": Moderation._unban,
    "bans": Moderation._bans,
    "mute": Moderation._mute,
    "unmute": Moderation._unmute,
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

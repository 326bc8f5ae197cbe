"""The hub joins the gateways to the rooms: admission and flood control here; the rest each in
its own module (rooms in ``app.domain.rooms``, their channels in ``app.delivery.switchboard``, history
shown to clients in ``app.delivery.replay``, join and leave notices in ``app.hub.presence``).

Gateways hand it connections and input lines; it asks the domain what they mean, publishes
public events through the bus, and, when the bus delivers them back in order, broadcasts each
one through its room's fan-out channels (encoded once per room and kind of client).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial

from app.bus.base import Bus
from app.bus.history import Gap
from app.bus.moderation import MemoryStore, ModerationStore
from app.delivery.fanout import Codec, Outbox
from app.delivery.laggards import Laggards
from app.delivery.replay import Replay, Replayer, gap_text, resume_point
from app.delivery.switchboard import Switchboard
from app.domain.addresses import Networks, budget_key
from app.domain.churn import PRESENCE_KINDS, ChurnGate
from app.domain.events import (
    Disconnect,
    Event,
    Forget,
    Forward,
    Gateway,
    Kind,
    Outcome,
    Publish,
    Seat,
    ShowHistory,
    Tell,
)
from app.domain.flood import Allowance, Budgets, FloodControl, FloodPolicy, Verdict
from app.domain.goodbye import Goodbye, Refusal
from app.domain.moderation import Role
from app.domain.nicks import nick_key
from app.domain.room import SPOKEN, Member, RemoteMember, Room
from app.domain.rooms import Maker, RoomError, RoomName, Voice, room_name, room_names
from app.domain.text import clean_text
from app.hub.chat_log import CHAT_LOG, log_event
from app.hub.contract import Client
from app.hub.desk import Moderation, Policy
from app.hub.handshakes import Ending, Handshake, HandshakeLimits, Handshakes
from app.hub.presence import Presence, PresenceLog
from app.hub.tally import Tally

DEGRADED = (
    "The room is degraded: the server cannot reach the shared message store. You stay connected;"
    " what you send waits here and goes out when it is back."
)
RECOVERED = "The room is back: what was waiting is being sent."

Later = Callable[[Callable[[], None]], None]
"""When to show a client an outcome: ``_now``, or the bus's ``after_delivered``."""


def _now(show: Callable[[], None]) -> None:
    show()


QUEUE_FULL = "Not sent: the room is degraded and too many messages are already waiting — try again when it is back"
HISTORY_LIMIT = "History not shown: too much history asked for from your address — try again in a minute"


@dataclass(frozen=True, slots=True)
class Admission:
    max_connections: int = 10_000
    max_per_address: int = 16
    proxies: Networks = field(default_factory=Networks)
    """The trusted proxies: a connection from one of them speaks for many people."""


class Hub:
    """The single place where connections, the rooms and the bus meet."""

    def __init__(
        self,
        room: Room,
        bus: Bus,
        flood: FloodPolicy | None = None,
        admission: Admission | None = None,
        clock: Callable[[], float] = time.monotonic,
        churn: ChurnGate | None = None,
        later: Callable[[float, Callable[[], None]], object] | None = None,
        laggards: Laggards | None = None,
        moderation: tuple[ModerationStore, Policy] | None = None,
        handshakes: HandshakeLimits | None = None,
        budgets: Budgets | None = None,
    ) -> None:
        """``later(delay, callback)`` schedules the churn summary and handshake deadlines (default:
        the running loop);
        ``laggards`` are the channels' slow readers, for which the hub holds back senders;
        ``moderation`` is where its records live and its policy (default: in memory, no operator password);
        ``budgets``: what making rooms and replaying history may cost a connection and an address."""
        self.room = room
        self.bus = bus
        self.flood = FloodControl(flood or FloodPolicy())
        budgets = budgets or Budgets()
        self.room_budget = Allowance(budgets.rooms)
        self.replay_budget = Allowance(budgets.replay)
        self.admission = admission or Admission()
        self.clock = clock
        self.clients: dict[int, Client] = {}
        self.laggards = laggards or Laggards()
        self.laggards.population = self.clients.__len__
        self.switchboard = Switchboard(room.rooms.default)
        self.channels = self.switchboard.kinds
        """The default room's channels, one per kind of client: the gateways add theirs."""
        self.replayer = Replayer(bus.history)
        later = later or (lambda delay, callback: asyncio.get_running_loop().call_later(delay, callback))
        self.presence = Presence(
            churn or ChurnGate(),
            clock,
            later,
            self._announce,
            room.population_of,
            lambda name, limit: room.users(limit, room=name),
        )
        self.presence_log = PresenceLog(
            replace(self.presence.gate, _changes={}),
            clock,
            later,
            log_event,
            lambda: room.population,
        )
        self.tally = Tally()
        self._next_id = 0
        self.closing = False
        store, policy = moderation or (MemoryStore(), Policy())
        self.moderation = Moderation(self, store, policy)
        room.guard = self.moderation.identities.protects
        self.handshakes = Handshakes(handshakes or HandshakeLimits(), later)  # type: ignore[arg-type]
        """Connections of every door that have not finished their handshake: they hold a socket as
        a chat client does, so they are capped too (see ``app.hub.handshakes``)."""
        room.maker_of = self._maker
        self._quiet: Counter[str] = Counter()
        """Line-door connections admitted but not yet in the room, because they have said nothing
        yet, per address (exempt ones under ""): they hold a socket as a chat client does, so they
        count toward the same caps."""

    def next_id(self) -> int:
        """A connection id, unique within this process."""
        self._next_id += 1
        return self._next_id

    def restore_rooms(self) -> None:
        """After the bus has loaded history: the rooms it holds exist again, with their topics."""
        history = self.bus.history
        for name in history.rooms():
            events = list(history.room(name).events())
            voice = Voice.PEOPLE if any(event.kind in SPOKEN for event in events) else Voice.SILENT
            try:
                self.room.rooms.restore(name, voice, max((event.ts for event in events), default=0.0))
            except RoomError:  # more rooms in history than the limit allows now: the rest stay unlisted
                continue
            for event in events:
                if event.kind is Kind.TOPIC:
                    self.room.restore_topic(event)

    # -- gateway entry points -------------------------------------------------------------

    def budget(self, address: str, forwarded: bool = False) -> str | None:
        """The per-address budget a connection from ``address`` counts against (None: exempt).
        ``forwarded``: a proxy's header named the address; else it is the socket's own peer."""
        return budget_key(address, not forwarded, not forwarded and self.admission.proxies.lists(address))

    def _maker(self, member: int) -> Maker:
        """A member as the maker of a room: counted by its registered identity if it proved one,
        else by its address; it pays from its connection's and its address's room budget."""
        client = self.clients.get(member)
        if client is None:
            return Maker()
        identity = self.moderation.identities.identified.get(member)
        key = f"~{identity}" if identity is not None else client.budget
        return Maker(
            key,
            None if identity is not None else member,
            lambda: self.room_budget.take(member, client.budget, self.clock()),
        )

    def refusal(self, budget: str | None, nick: str | None = None) -> Refusal | None:
        """Why a new connection counted against ``budget`` (None: exempt), asking for ``nick``, must be
        refused, or None to admit it. A banned address is refused whatever the nick, since a ban
        that came second to a full server would leave the banned retrying. Unfinished handshakes
        have caps of their own (``handshake_started``)."""
        refusal = self.moderation.refusal(budget, nick)
        if refusal is not None:
            self.tally.refusals[refusal.goodbye] += 1
            return refusal
        if self.closing:
            refusal = Refusal(Goodbye.RESTARTING)
        elif len(self.clients) + self._quiet.total() >= self.admission.max_connections:
            refusal = Refusal(Goodbye.FULL)
        elif (
            budget is not None
            and self.flood.connections_from(budget) + self._quiet[budget] >= self.admission.max_per_address
        ):
            refusal = Refusal(Goodbye.ADDRESS_LIMIT, f"limit {self.admission.max_per_address}")
        if refusal is not None:
            self.tally.refusals[refusal.goodbye] += 1
        return refusal

    def handshake_started(
        self,
        door: Gateway,
        peer: str,
        finish: float,
        cut: Callable[[Ending], None],
        heard: Callable[[], bool] | None = None,
    ) -> Handshake | Refusal:
        """A connection opened on ``door`` from the socket peer ``peer`` and starts its handshake
        (an HTTP request head, TLS, an SSH login, a PROXY header), which must finish within
        ``finish`` seconds: its place among unfinished handshakes, or why it is refused (only
        while shutting down). The one way in for every door; the policy (caps, deadlines, who is
        shed for a newcomer) is ``app.hub.handshakes``'. Once it is finished, the connection is
        admitted as a client by ``refusal``, like any other."""
        if self.closing:
            self.tally.refusals[Goodbye.RESTARTING] += 1
            return Refusal(Goodbye.RESTARTING)
        return self.handshakes.start(door, peer, finish, cut, self.budget(peer) is None, heard)

    def quiet_started(self, budget: str | None) -> None:
        """A connection admitted (``refusal`` said None) but not yet in the room, because it has
        said nothing yet: it holds a socket, so it counts toward the caps until ``quiet_ended``."""
        self._quiet[budget or ""] += 1

    def quiet_ended(self, budget: str | None) -> None:
        """A connection counted by ``quiet_started`` spoke (``connect`` it now) or is gone."""
        key = budget or ""
        self._quiet[key] -= 1
        if self._quiet[key] <= 0:
            del self._quiet[key]

    def connect(
        self,
        client: Client,
        nick: str | None = None,
        since: int | Mapping[str, int] | None = None,
        rooms: tuple[str, ...] = (),
        token: str | None = None,
    ) -> None:
        """Add an admitted client (call ``refusal`` first), in ``rooms`` (as typed; the last is
        current) or else the default room; ``token`` proves a registered ``nick``.

        It gets its welcome, then each room's history (the last events its channel replays, or
        everything after ``since``: one id for every room, or an id per room), then its own
        joins and live events; no live event can slip in between replay and live. The replay's
        bytes are paid for from its address's replay budget (unless in debt, it pays whatever the
        replay weighs): a client whose address is in debt and asks for history is refused
        (``REPLAY_LIMIT``, come back later with the same ``since``) before anyone hears of it.
        """
        self.clients[client.id] = client
        self.tally.connections[client.gateway] += 1
        self.tally.open[client.gateway] += 1
        self.flood.open(client.id, client.budget, self.clock())
        self.moderation.identities.prove_on_arrival(client, nick, token)
        asked = self.moderation.admitted(client, nick, rooms)
        if self.replay_budget.spent(client.budget, self.clock()) and self._wants_history(client, asked, since):
            self.drop(client, Goodbye.REPLAY_LIMIT)  # before it is in any room: nobody hears of it
            return
        welcome, *rest = self.room.join(client.id, client.gateway, nick, asked)
        self.bus.after_delivered(partial(self._welcome, client, welcome, since))
        self._apply(rest)
        self.moderation.joined(client)

    def _welcome(self, client: Client, welcome: Outcome, since: int | Mapping[str, int] | None) -> None:
        """Welcome a newcomer, replay each room's history and seat it in the rooms' channels,
        once the events published before it came are delivered (so in history): each reaches it
        once, replayed or live."""
        if self.clients.get(client.id) is not client:
            return
        joined = self.room.rooms.of(client.id)
        replays = [self._prepare(client, name, resume_point(since, name), name != joined[-1]) for name in joined]
        self.replay_budget.take(None, client.budget, self.clock(), sum(replay.size for replay in replays))
        self._apply([welcome])
        if self.bus.degraded:
            self.tell(client, Event(Kind.SYSTEM, text=DEGRADED, code="degraded"))
        for replay in replays:
            self._show(client, replay)
        self._seat(client)
        client.outbox.open()

    def _wants_history(self, client: Client, rooms: tuple[str, ...], since: int | Mapping[str, int] | None) -> bool:
        """Whether a client joining ``rooms`` (as typed) is to be replayed any history: what an
        address in debt with its replay budget may not have (a resume with nothing missed is free)."""
        names = room_names(rooms) or [self.room.rooms.default]
        return self.replayer.wanted_in_any(names, since, client.outbox.channel.replay)

    def _prepare(self, client: Client, room: str, since: int | None, aside: bool = False) -> Replay:
        """What the client is to be shown of the room's history (see ``Replayer.prepare``)."""
        return self.replayer.prepare(client.codec, room, since, client.outbox.channel.replay, aside)

    def _show(self, client: Client, replay: Replay) -> None:
        self.replayer.send(replay, client.outbox.push_run, lambda event: self.tell(client, event))

    def _seat(self, client: Client) -> None:
        """Put the client's outbox in its current room's channel, and as a guest in its other rooms'."""
        rooms = self.room.rooms.of(client.id)
        if not rooms:
            return
        board, kind = self.switchboard, client.outbox.channel.kind
        client.outbox.seat(board.channel(rooms[-1], kind), [board.channel(name, kind) for name in rooms[:-1]])

    def receive(self, client: Client, line: str, room: str | None = None) -> None:
        """One line of input from a client; ``room``: the room it was typed for, if it said."""
        if client.id not in self.clients:
            return
        if not line.strip():
            self.noise(client)  # a blank line says nothing
            return
        self.laggards.hold(client, len(line))  # read no more from it while the readers are behind
        verdict = self.flood.check(client.id, client.budget, self.clock(), len(line))
        if verdict is Verdict.ALLOW:
            self._interpret_for(client, line, room)
        elif verdict is Verdict.REFUSE:
            self.tally.rate_limited += 1
            text = f"Slow down: not sent (limits: {self.flood.policy.pace})"
            refusal = Tell(client.id, Event(Kind.ERROR, text=text, code="rate_limited"))
            self.bus.after_delivered(partial(self._carry_out, refusal))  # after the lines that went out
        else:
            self.drop(client, Goodbye.FLOODING)

    def _interpret_for(self, client: Client, line: str, room: str | None) -> None:
        """A line typed for ``room`` as the client spelt it: the name takes its one spelling here,
        once, so every rule looked up by room (mutes, slow mode, a locked topic) sees that one;
        a line for a room the client is not in is refused before anything reads it."""
        if room is None or self.moderation.takes(client):
            self.interpret(client, line)
            return
        try:
            name = room_name(room)
        except RoomError as refusal:
            self.error(client, f"Not sent: {refusal}", "no_such_room")
            return
        if client.id in self.room and name not in self.room.rooms.of(client.id):
            self.error(client, f"Not sent: you are not in {name} — /join {name} first", "not_in_room")
            return
        self.interpret(client, line, name)

    def interpret(self, client: Client, line: str, room: RoomName | None = None) -> None:
        """A moderation command goes to the desk; what the room's rules hold back (a mute, slow
        mode, a locked room or topic) is refused; the rest is the room's. ``room``: the room the
        line was typed for, if the client said (else its current room)."""
        if self.moderation.awaiting and self.moderation.takes(client):
            self.moderation.password(client, line)
            return
        line = clean_text(line)  # read as it is acted on: a control character hides a command from no rule
        if not line:
            return
        name = rest = ""
        if line.startswith("/") and not line.startswith("//"):
            name, _, rest = line[1:].partition(" ")
            name, rest = name.lower(), rest.strip()
            if self.moderation.handles(name, rest):
                self.moderation.command(client, name, rest, room)
                return
        here = room or self.room.current(client.id)
        held = self.moderation.held_back(client, name, rest, here)
        if held is not None:
            self.error(client, *held)
            return
        if rest and name in ("part", "leave", "quit") and self.moderation.mutes:  # a reason is said too
            line = f"/{name} {self.moderation.unsaid(client, name, rest, here)}"
        self._apply(self.room.handle(client.id, line, room), self.bus.after_delivered)

    def act_for(self, client: Client, line: str) -> None:
        """Carry out a command for a client on the server's initiative (taking it out of a room): it
        is never read as a password the client was asked for, nor held back by the client's mute,
        since the words are not the client's."""
        self._apply(self.room.handle(client.id, line), self.bus.after_delivered)

    def after_replies(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the replies to every line received so far are written (they
        wait for the events published before them): a door hangs up at the end of its input so."""
        loop = asyncio.get_running_loop()
        self.bus.after_delivered(lambda: loop.call_soon(callback))

    def refuse(self, client: Client, text: str = "", code: str = "") -> None:
        """Input from a client that cannot be accepted (``text`` says why; none: nothing is said).
        It costs the sender a strike, and the answer is rate limited like lines: a flood of bad
        input gets a few answers, then a goodbye."""
        if client.id not in self.clients:
            return
        self.tally.refused_input += 1
        verdict = self.flood.refused(client.id, client.budget, self.clock())
        if verdict is Verdict.ALLOW and text:
            self.error(client, text, code)
        elif verdict is Verdict.KICK:
            self.drop(client, Goodbye.BAD_INPUT)

    def control(self, client: Client) -> bool:
        """``count`` control messages a client chose to send (a WebSocket ping, an unasked-for
        pong): True to act on them.
        They share the sender's line budget; one beyond it is ignored and is a strike, like a line
        sent too fast, so a client that keeps sending nothing is cut as a flooder is."""
        if client.id not in self.clients:
            return False
        verdict = self.flood.control(client.id, client.budget, self.clock())
        if verdict is Verdict.ALLOW:
            return True
        self.tally.refused_input += 1
        if verdict is Verdict.KICK:
            self.drop(client, Goodbye.BAD_INPUT)
        return False

    def noise(self, client: Client, count: int = 1) -> None:
        """``count`` pieces of input that carry nothing (blank lines, telnet no-ops, empty frames):
        free within an allowance of their own, a strike each beyond it (see ``FloodControl.noise``)."""
        if client.id not in self.clients:
            return
        verdict = self.flood.noise(client.id, self.clock(), count)
        if verdict is not Verdict.ALLOW:
            self.tally.refused_input += 1
        if verdict is Verdict.KICK:
            self.drop(client, Goodbye.BAD_INPUT)

    def tell(self, client: Client, event: Event) -> None:
        """Send one event to one client (marked aside when it is about another of its rooms)."""
        own = event.origin == client.id and event.process in ("", self.bus.process)
        if event.room and not event.aside and event.room != self.room.current(client.id):
            event = replace(event, aside=True)
        chunk = client.codec.encode(event, own)
        if chunk is not None:
            client.send(chunk)

    def error(self, client: Client, text: str, code: str) -> None:
        self.tell(client, Event(Kind.ERROR, text=text, code=code))

    def disconnect(self, client: Client, reason: str = "") -> None:
        """The connection is gone (or going): remove it; safe to call more than once."""
        if self.clients.pop(client.id, None) is None:
            return
        self.tally.open[client.gateway] -= 1
        self.flood.close(client.id, client.budget)
        self.room_budget.close(client.id)
        self.laggards.forget(client)
        self.moderation.left(client)
        outcomes = self.room.leave(client.id, reason)
        if not self.closing or self.bus.process:  # a shared room must hear who left with this process
            self._apply(outcomes)

    def drop(self, client: Client, goodbye: Goodbye, reason: str = "") -> None:
        """Disconnect a client on the server's initiative, telling it why; others see it leave
        with ``reason`` (the goodbye's own, by default)."""
        self.tally.goodbyes[goodbye] += 1
        notice = None
        if goodbye is not Goodbye.QUIT:  # a quitting user has had the room's own goodbye
            notice = client.codec.encode(Event(Kind.ERROR, text=goodbye.line(reason), code="disconnected"), False)
        client.close(goodbye, notice, reason)
        self.disconnect(client, reason or goodbye.reason)

    def shutdown(self) -> None:
        """Tell everyone the server is going away and close every connection. Not an error on
        the client's part, so the notice is a system one."""
        self.closing = True
        goodbye = Goodbye.RESTARTING
        notice = Event(Kind.SYSTEM, text=goodbye.text, code="restarting")
        encoded: dict[Codec, bytes | str | None] = {}  # type: ignore[type-arg]
        leaving = list(self.clients.values())
        self.tally.goodbyes[goodbye] += len(leaving)
        for client in leaving:
            if client.codec not in encoded:
                encoded[client.codec] = client.codec.encode(notice, False)
            client.close(goodbye, encoded[client.codec])
            self.disconnect(client, goodbye.reason)

    def gateway_counts(self) -> dict[str, int]:
        return {g.value: self.tally.open[g] for g in Gateway}

    # -- events -----------------------------------------------------------------------------

    def deliver(self, event: Event) -> None:
        """A public event in its final place in its room's order: send it to every local client
        in the room, encoded once per channel; its sender gets its own version. It is logged by
        the process its sender is connected to only: processes sharing a room log it once."""
        if event.process == self.bus.process:
            self._log_event(event)
        self.tally.events[event.kind] += 1
        if event.process != self.bus.process:
            self.room.track_remote(event)
        elif event.kind is Kind.LEAVE:
            self._reaped(event)
        room = event.room or self.switchboard.default
        if not self.presence.admit(event, room):  # folded into the room's next presence summary
            return
        sender = self.clients.get(event.origin) if event.origin and event.process == self.bus.process else None
        exclude = sender.outbox if sender is not None else None
        skip = self._shown_elsewhere(event, room) if event.kind is Kind.NICK and len(event.spans) > 1 else ()
        unwanted = skip
        if self.moderation.ignoring and (ignoring := self.moderation.ignored_by(event)):
            unwanted = {*skip, *(client.outbox for client in ignoring)}
        for channel in self.switchboard.of(room):
            channel.broadcast(event, exclude, unwanted)
        if sender is not None and not (skip and room != event.spans[0]):
            self.tell(sender, event)
        if event.kind is Kind.MODERATION:
            self.moderation.delivered(event)
        elif event.kind is Kind.ENTER:
            self.moderation.entered(event)
        elif self.room.badged and event.kind in (Kind.LEAVE, Kind.NICK):
            self._move_badge(event)

    def _move_badge(self, event: Event) -> None:
        """An operator's badge goes with their nick, and away when they leave."""
        old = nick_key(event.old if event.kind is Kind.NICK else event.nick)
        if old in self.room.badged:
            self.room.badged.discard(old)
            if event.kind is Kind.NICK:
                self.room.badged.add(nick_key(event.nick))

    def _shown_elsewhere(self, event: Event, room: str) -> set[Outbox]:  # type: ignore[type-arg]
        """A nick change is published in every room of the one who changed it, each with its
        own id; a client sharing several of those rooms is shown it once, in the first of them
        (in the order of ``spans``) that it is in: skip it in the others."""
        if room not in event.spans:
            return set()
        earlier = set(event.spans[: event.spans.index(room)])
        state = self.room.rooms.get(room)
        skip: set[Outbox] = set()  # type: ignore[type-arg]
        for member in state.members if state is not None else ():
            client = self.clients.get(member)
            if client is not None and earlier.intersection(self.room.rooms.of(member)):
                skip.add(client.outbox)
        return skip

    def _log_event(self, event: Event) -> None:
        """The chat log: each event's line, but joins and leaves counted past a few a second."""
        if not CHAT_LOG.isEnabledFor(logging.INFO):
            return
        if event.kind in PRESENCE_KINDS:
            self.presence_log.note(event)
        else:
            log_event(event)

    def _announce(self, event: Event) -> None:
        """A churn summary for its room."""
        for channel in self.switchboard.of(event.room):
            channel.broadcast(event)

    def _reaped(self, event: Event) -> None:
        """Another process published this process's member's leave, taking this process for dead
        (it stalled past its heartbeat): the room no longer has them, so close the connection."""
        client = self.clients.get(event.origin)
        if client is not None and event.origin in self.room and self.room.nick_of(event.origin) == event.nick:
            self.drop(client, Goodbye.LOST_CONTACT)

    # -- the shared room (bus listener) -----------------------------------------------------------

    def degraded(self) -> None:
        self._notify(Event(Kind.SYSTEM, text=DEGRADED, code="degraded"))

    def recovered(self) -> None:
        self._notify(Event(Kind.SYSTEM, text=RECOVERED, code="recovered"))

    def refused(self, event: Event, reason: str) -> None:
        if reason == "full":
            target = self.clients.get(event.origin)
            if target is not None:
                self.error(target, QUEUE_FULL, "degraded")
        else:
            self._apply(self.room.refused(event))

    def skipped(self, room: str, gap: Gap, since: int) -> None:
        """Told in the room's order, before the event after the jump, as a resume is told."""
        notice = Event(Kind.GAP, text=gap_text(gap, since), missed=gap.missed, room=room)
        for channel in self.switchboard.of(room):
            channel.broadcast(notice)

    def forwarded(self, member: int, event: Event) -> None:
        if event.kind is Kind.MODERATION:
            self.moderation.forwarded(member, event)
            return
        target = self.clients.get(member)
        if target is not None:
            self.tell(target, event)

    def remote_members(self, members: list[RemoteMember], rooms: dict[str, set[str]]) -> None:
        self.room.set_remote(members, rooms)

    def local_members(self) -> list[Member]:
        return self.room.local_members()

    def rooms_of(self, member: int) -> list[str]:
        return self.room.rooms.of(member)

    def _notify(self, event: Event) -> None:
        """Tell every client here something the server says, once each (through the channel
        of its current room), encoded once per channel."""
        for channel in self.switchboard:
            channel.broadcast(event, guests=False)

    def _apply(self, outcomes: list[Outcome], later: Later = _now) -> None:
        """Publish, forward and forget now; what is shown or done to one client through ``later``
        (for a command: once what was published before it is delivered, so a reply never
        overtakes its asker's own lines)."""
        for outcome in outcomes:
            if isinstance(outcome, Publish):
                self.bus.publish(outcome.event)
            elif isinstance(outcome, Forward):
                self.bus.forward(outcome.process, outcome.member, outcome.event)
            elif isinstance(outcome, Forget):
                self.bus.forget(outcome.room)
                self.switchboard.forget(outcome.room)
                self.presence.forget(outcome.room)
            else:
                later(partial(self._carry_out, outcome))

    def _history_refused(self, client: Client) -> bool:
        """History asked for in the chat (``/history``, a room joined) is paid for from the same
        per-address replay budget as a replay on connecting, or it would amplify the same way:
        True, with the client told so, when its address is in debt."""
        if not self.replay_budget.spent(client.budget, self.clock()):
            return False
        self.error(client, HISTORY_LIMIT, "replay_limit")
        return True

    def _carry_out(self, outcome: Tell | ShowHistory | Seat | Disconnect) -> None:
        """Show or do to one client what an outcome says (it may have gone meanwhile)."""
        target = self.clients.get(outcome.member)
        if target is None:
            return
        if isinstance(outcome, Tell):
            self.tell(target, outcome.event)
        elif isinstance(outcome, ShowHistory):
            if self._history_refused(target):
                return
            ids = self.moderation.standing.role(target, outcome.room) >= Role.ROOM_OPERATOR  # what /redact takes
            parts = self.replayer.show(outcome.room, outcome.count, ids)
            self.replay_budget.take(None, target.budget, self.clock(), sum(len(part.text) for part in parts))
            for part in parts:
                self.tell(target, part)
        elif isinstance(outcome, Seat):
            if outcome.replay and not self._history_refused(target):
                replay = self._prepare(target, outcome.replay, None)
                self.replay_budget.take(None, target.budget, self.clock(), replay.size)
                self._show(target, replay)
            self._seat(target)
        else:
            self.drop(target, outcome.goodbye, outcome.reason)

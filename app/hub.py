"""The hub joins the gateways to the room: admission, flood control, history replay, churn.

Gateways hand it connections and input lines; it asks the room what they mean, publishes
public events through the bus, and, when the bus delivers them back in order, broadcasts each
one through the fan-out channels (encoded once per kind of client).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from app.bus.base import Bus
from app.bus.history import Gap
from app.bus.moderation import MemoryStore, ModerationStore
from app.codecs.lines import LIVE, format_lines
from app.domain.addresses import Networks, budget_key
from app.domain.churn import PRESENCE_KINDS, ChurnGate
from app.domain.events import Disconnect, Event, Forward, Gateway, Kind, Outcome, Publish, ShowHistory, Tell
from app.domain.flood import FloodControl, FloodPolicy, Verdict
from app.domain.goodbye import Goodbye, Refusal
from app.domain.moderation import Role, Speech
from app.domain.nicks import nick_key
from app.domain.room import Member, RemoteMember, Room
from app.fanout import Channel, Codec, Outbox
from app.laggards import Laggards
from app.moderation import Moderation, Policy
from app.tally import Tally

log = logging.getLogger("app.chat")

SPEECH = {"me": Speech.ROOM, "msg": Speech.PRIVATE}
"""Commands that say something: held back from a muted member (and in slow mode) like plain lines."""

DEGRADED = (
    "The room is degraded: the server cannot reach the shared message store. You stay connected;"
    " what you send waits here and goes out when it is back."
)
RECOVERED = "The room is back: what was waiting is being sent."
HISTORY_PART = 8000
"""Characters of /history in one notice: a long history is shown in several, each well within a
WebSocket message's 64 KiB even when every character takes 4 bytes of UTF-8 (or is escaped)."""
QUEUE_FULL = "Not sent: the room is degraded and too many messages are already waiting — try again when it is back"


class Client(Protocol):
    """One connection, as the gateways implement it."""

    id: int
    gateway: Gateway
    address: str
    budget: str | None
    """The address its per-address limits count (see ``app.domain.addresses``); None: exempt."""
    key_fingerprint: str | None
    """The SHA256 fingerprint of the SSH key its user logged in with; None on other doors, or without a key."""
    codec: Codec  # type: ignore[type-arg]
    outbox: Outbox  # type: ignore[type-arg]

    def send(self, chunk: bytes | str) -> None:
        """Queue an encoded chunk in the client's outbox."""

    def close(self, goodbye: Goodbye, notice: bytes | str | None, detail: str = "") -> None:
        """Flush what is queued, send the notice if any, and close the connection (the WebSocket
        close reason carries ``detail``: a kick's reason, a ban's reason and expiry)."""

    def hide_input(self, hidden: bool) -> None:
        """Ask the client's terminal not to show what is typed (a password), or to show it again."""

    def pause_input(self) -> None:
        """Leave what it sends unread until ``resume_input``."""

    def resume_input(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Admission:
    max_connections: int = 10_000
    max_per_address: int = 16
    proxies: Networks = field(default_factory=Networks)
    """The trusted proxies: a connection from one of them speaks for many people."""


class Hub:
    """The single place where connections, the room and the bus meet."""

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
    ) -> None:
        """``later(delay, callback)`` schedules the churn summary (default: the running loop);
        ``laggards`` are the channels' slow readers, for which the hub holds back senders;
        ``moderation`` is where its records live and its policy (default: in memory, no operator password)."""
        self.room = room
        self.bus = bus
        self.flood = FloodControl(flood or FloodPolicy())
        self.admission = admission or Admission()
        self.clock = clock
        self.clients: dict[int, Client] = {}
        self.laggards = laggards or Laggards()
        self.laggards.population = self.clients.__len__
        self.churn = churn or ChurnGate()
        self._later = later or (lambda delay, callback: asyncio.get_running_loop().call_later(delay, callback))
        self._summary_due = False
        self._replayed: dict[tuple[Codec, int, float], bytes | str | None] = {}  # type: ignore[type-arg]
        """Replayed history, encoded once per codec: every newcomer gets the same recent events."""
        self.channels: list[Channel] = []  # type: ignore[type-arg]
        self.tally = Tally()
        self._next_id = 0
        self.closing = False
        store, policy = moderation or (MemoryStore(), Policy())
        self.moderation = Moderation(self, store, policy)
        room.guard = self.moderation.identities.protects
        self._unfinished: Counter[str] = Counter()
        """HTTP connections whose request head has not all arrived, per address (loopback under
        ""): they hold a socket as a chat client does, so they count toward the same caps."""

    def next_id(self) -> int:
        """A connection id, unique within this process."""
        self._next_id += 1
        return self._next_id

    # -- gateway entry points -------------------------------------------------------------

    def budget(self, address: str, forwarded: bool = False) -> str | None:
        """The per-address budget a connection from ``address`` counts against (None: exempt).
        ``forwarded``: a proxy's header named the address; else it is the socket's own peer."""
        return budget_key(address, not forwarded, not forwarded and self.admission.proxies.lists(address))

    def refusal(self, budget: str | None, nick: str | None = None) -> Refusal | None:
        """Why a new connection counted against ``budget`` (None: exempt), asking for ``nick``, must be
        refused, or None to admit it. A banned address is refused whatever the nick, since a ban
        that came second to a full server would leave the banned retrying."""
        refusal = self.moderation.refusal(budget, nick)
        if refusal is not None:
            self.tally.refusals[refusal.goodbye] += 1
            return refusal
        if self.closing:
            refusal = Refusal(Goodbye.RESTARTING)
        elif len(self.clients) + self._unfinished.total() >= self.admission.max_connections:
            refusal = Refusal(Goodbye.FULL)
        elif (
            budget is not None
            and self.flood.connections_from(budget) + self._unfinished[budget] >= self.admission.max_per_address
        ):
            refusal = Refusal(Goodbye.ADDRESS_LIMIT, f"limit {self.admission.max_per_address}")
        if refusal is not None:
            self.tally.refusals[refusal.goodbye] += 1
        return refusal

    def request_started(self, address: str) -> Refusal | None:
        """An HTTP connection opened: why it must be refused, or None, and it is counted in the
        caps on chat connections until ``request_ended``: a connection that never finishes its
        request (slowloris) holds a socket as surely as a chat client does. It is refused only
        when unfinished requests alone reach a cap: a full room still answers the page, its
        health check, and a WebSocket (which then hears why it is refused, in its own terms).
        ``address`` is the socket's own peer: no header has been read yet."""
        key = self.budget(address)
        refusal = None
        if self._unfinished.total() >= self.admission.max_connections:
            refusal = Refusal(Goodbye.FULL)
        elif key is not None and self._unfinished[key] >= self.admission.max_per_address:
            refusal = Refusal(Goodbye.ADDRESS_LIMIT, f"limit {self.admission.max_per_address}")
        if refusal is not None:
            self.tally.refusals[refusal.goodbye] += 1
            return refusal
        self._unfinished[key or ""] += 1
        return None

    def request_ended(self, address: str) -> None:
        """The request head of a connection counted by ``request_started`` has arrived (or the
        connection is gone)."""
        key = self.budget(address) or ""
        self._unfinished[key] -= 1
        if self._unfinished[key] <= 0:
            del self._unfinished[key]

    def connect(
        self, client: Client, nick: str | None = None, since: int | None = None, token: str | None = None
    ) -> None:
        """Add an admitted client to the room (call ``refusal`` first).

        It gets its welcome, then history (the last events its channel replays, or everything
        after ``since`` for a reconnecting client), then its own join and live events. All of it is
        queued in this one call, so no live event can slip in between replay and live.
        """
        self.clients[client.id] = client
        self.tally.connections[client.gateway] += 1
        self.tally.open[client.gateway] += 1
        self.flood.open(client.id, client.budget, self.clock())
        self.moderation.identities.prove_on_arrival(client, nick, token)
        welcome, *rest = self.room.join(client.id, client.gateway, nick)
        self._apply([welcome])
        if self.bus.degraded:
            self.tell(client, Event(Kind.SYSTEM, text=DEGRADED, code="degraded"))
        if since is not None:
            gap, events = self.bus.history.after(since)
        else:
            gap, events = Gap(), self.bus.history.recent(client.outbox.channel.replay)
        self._replay(client, events, gap, since)
        client.outbox.open()
        self._apply(rest)
        self.moderation.joined(client)

    def _replay(self, client: Client, events: list[Event], gap: Gap, since: int | None) -> None:
        if gap:
            self.tell(client, Event(Kind.GAP, text=_gap_text(gap, since), missed=gap.missed))
        cache, codec = self._replayed, client.codec
        for event in events:
            key = (codec, event.id, event.ts)  # the time too: after a Redis data loss an id can recur
            chunk = cache.get(key)
            if chunk is None:
                if len(cache) >= 4 * self.bus.history.capacity:
                    cache.clear()
                chunk = cache[key] = codec.encode(event.replayed(), False)
            if chunk is not None:
                client.send(chunk)
        if events or gap:
            self.tell(client, Event(Kind.SYSTEM, text="— live —", code=LIVE))

    def receive(self, client: Client, line: str) -> None:
        """One line of input from a client."""
        if client.id not in self.clients or not line.strip():
            return
        self.laggards.hold(client, len(line))  # read no more from it while the readers are behind
        verdict = self.flood.check(client.id, client.budget, self.clock(), len(line))
        if verdict is Verdict.ALLOW:
            self.interpret(client, line)
        elif verdict is Verdict.REFUSE:
            self.tally.rate_limited += 1
            text = f"Slow down: not sent (limits: {self.flood.policy.pace})"
            self.tell(client, Event(Kind.ERROR, text=text, code="rate_limited"))
        else:
            self.drop(client, Goodbye.FLOODING)

    def interpret(self, client: Client, line: str) -> None:
        """A moderation command goes to the desk; what a muted member says is refused; the rest is the room's."""
        if self.moderation.awaiting and self.moderation.takes(client):
            self.moderation.password(client, line)
            return
        stripped = line.lstrip()
        speech = Speech.ROOM
        if stripped.startswith("/") and not stripped.startswith("//"):
            name, _, rest = stripped[1:].partition(" ")
            name = name.lower()
            if self.moderation.handles(name, rest.strip()):
                self.moderation.command(client, name, rest.strip())
                return
            speech = SPEECH.get(name, Speech.NONE)
        if speech is not Speech.NONE and (self.moderation.mutes or self.moderation.slow):
            held = self.moderation.held_back(client, speech)
            if held is not None:
                self.error(client, *held)
                return
        self._apply(self.room.handle(client.id, line))

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
        """A control message a WebSocket client chose to send (a ping, an unasked-for pong): True
        to act on it. They share the sender's line budget; one beyond it is ignored and is a
        strike, like a line sent too fast."""
        if client.id not in self.clients:
            return False
        verdict = self.flood.control(client.id, client.budget, self.clock())
        if verdict is Verdict.ALLOW:
            return True
        self.tally.refused_input += 1
        if verdict is Verdict.KICK:
            self.drop(client, Goodbye.BAD_INPUT)
        return False

    def tell(self, client: Client, event: Event) -> None:
        """Send one event to one client."""
        own = event.origin == client.id and event.process in ("", self.bus.process)
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
        """A public event in its final place in the order: send it to every local client,
        encoded once per channel; its sender gets its own version."""
        _log_event(event)
        self.tally.events[event.kind] += 1
        if event.process != self.bus.process:
            self.room.track_remote(event)
        elif event.kind is Kind.LEAVE:
            self._reaped(event)
        if event.kind in PRESENCE_KINDS and not self.churn.admit(self.clock()):
            self._fold(event)
            return
        sender = self.clients.get(event.origin) if event.origin and event.process == self.bus.process else None
        exclude = sender.outbox if sender is not None else None
        ignoring = [client.outbox for client in self.moderation.ignored_by(event)] if self.moderation.ignoring else ()
        for channel in self.channels:
            channel.broadcast(event, exclude, ignoring)
        if sender is not None:
            self.tell(sender, event)
        if event.kind is Kind.MODERATION:
            self.moderation.delivered(event)
        elif self.room.badged and event.kind in (Kind.LEAVE, Kind.NICK):
            self._move_badge(event)

    def _move_badge(self, event: Event) -> None:
        """An operator's badge goes with their nick, and away when they leave."""
        old = nick_key(event.old if event.kind is Kind.NICK else event.nick)
        if old in self.room.badged:
            self.room.badged.discard(old)
            if event.kind is Kind.NICK:
                self.room.badged.add(nick_key(event.nick))

    def _fold(self, event: Event) -> None:
        """Keep a join or leave for the churn summary, sent once the window is over."""
        self.churn.fold(event)
        if not self._summary_due:
            self._summary_due = True
            self._later(self.churn.window, self._send_summary)

    def _send_summary(self) -> None:
        self._summary_due = False
        summary = self.churn.summary(self.room.population)
        if summary is not None:
            self._notify(summary)

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

    def forwarded(self, member: int, event: Event) -> None:
        if event.kind is Kind.MODERATION:
            self.moderation.forwarded(member, event)
            return
        target = self.clients.get(member)
        if target is not None:
            self.tell(target, event)

    def remote_members(self, members: list[RemoteMember]) -> None:
        self.room.set_remote(members)

    def local_members(self) -> list[Member]:
        return self.room.local_members()

    def _notify(self, event: Event) -> None:
        """Tell every client here something the server says, encoded once per channel."""
        for channel in self.channels:
            channel.broadcast(event)

    def _show_history(self, client: Client, count: int) -> None:
        events = self.bus.history.recent(min(count, self.bus.history.capacity))
        if not events:
            self.tell(client, Event(Kind.SYSTEM, text="No messages yet"))
            return
        shown = [f"Last {len(events)} events (UTC):"]
        if self.moderation.role(client) >= Role.ROOM_OPERATOR:  # with the ids an operator may /redact
            shown += (f"#{event.id} {line}" for event in events for line in format_lines(event.replayed()))
        else:
            shown += (line for event in events for line in format_lines(event.replayed()))
        for part in _parts(shown, HISTORY_PART):
            self.tell(client, Event(Kind.SYSTEM, text="\n".join(part)))

    def _apply(self, outcomes: list[Outcome]) -> None:
        for outcome in outcomes:
            if isinstance(outcome, Publish):
                self.bus.publish(outcome.event)
            elif isinstance(outcome, Tell):
                target = self.clients.get(outcome.member)
                if target is not None:
                    self.tell(target, outcome.event)
            elif isinstance(outcome, Forward):
                self.bus.forward(outcome.process, outcome.member, outcome.event)
            elif isinstance(outcome, ShowHistory):
                target = self.clients.get(outcome.member)
                if target is not None:
                    self._show_history(target, outcome.count)
            elif isinstance(outcome, Disconnect):
                target = self.clients.get(outcome.member)
                if target is not None:
                    self.drop(target, outcome.goodbye, outcome.reason)


def _parts(lines: list[str], budget: int) -> list[list[str]]:
    """Lines in runs of at most ``budget`` characters (a longer line alone in its run)."""
    parts: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if parts[-1] and size + len(line) > budget:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += len(line) + 1
    return parts


def _gap_text(gap: Gap, since: int | None) -> str:
    parts = []
    if gap.evicted:
        parts.append(f"{gap.evicted} earlier events are no longer in history")
    if gap.lost:
        parts.append(f"up to {gap.lost} events after #{since} were lost when the server stopped unexpectedly")
    text = "; ".join(parts)
    return text[0].upper() + text[1:]


def _log_event(event: Event) -> None:
    if not log.isEnabledFor(logging.INFO):
        return
    kind = event.kind
    if kind is Kind.MESSAGE:
        log.info("#%d [%s] %s", event.id, event.nick, event.text)
    elif kind is Kind.ACTION:
        log.info("#%d * %s %s", event.id, event.nick, event.text)
    elif kind is Kind.JOIN:
        log.info("#%d join %s (%s)", event.id, event.nick, event.gateway.value if event.gateway else "?")
    elif kind is Kind.LEAVE:
        log.info("#%d leave %s %s", event.id, event.nick, event.text)
    elif kind is Kind.NICK:
        log.info("#%d nick %s -> %s", event.id, event.old, event.nick)

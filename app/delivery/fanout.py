"""Fan-out: every event to every client, with as little work per client as possible.

Each kind of client (telnet lines, JSON frames, plain-text frames) has a ``Channel``. A public
event is encoded once per channel and appended to the channel's pending list, whatever the
number of clients. Once per event-loop turn the ``Flusher`` packs each channel's pending chunks
into wire bytes once (one WebSocket frame, or one run of telnet lines) and hands that same
bytes object to every client in step with the channel: one write per client, no per-client
encoding, and a burst of events still costs one system call per client.

Every packed piece is bounded (64 KiB, or a smaller WebSocket message limit): a turn that
carried more is cut into several pieces (several frames, each a valid JSON object or array), so
batching never makes a message a client cannot accept, nor one write that swamps its link.
The cut happens while packing, once per channel per turn; a turn that fits is one piece as before.

Channels are per room and kind of client. A client is a member of the channel of its current
room (its *home*) and a *guest* of the channels of its other rooms: a room's event is encoded
once for its members and once more, marked as aside, for its guests (terminals prefix the
room's name), and a guest gets it pushed onto its own backlog. Whatever the number of its
rooms, a client's backlog is packed and written once per loop turn.

A newcomer's history (``Run``) is packed once per room and kind of client and shared by every
client that asks for it; each keeps only its place in it, and it is written a window
(``REPLAY_WINDOW``) per loop turn, and only while the client's transport takes it: a slow reader
of a large replay holds a few windows at most, and the loop stays free for everyone else.

A client falls out of step when something is meant for it alone (its welcome, an error, a
private message, its own message marked as its own, an event from one of its other rooms) or
when its transport is back-pressured.
It then keeps its own copy of the chunks in its ``Outbox`` and is written separately; once that
is written out it rejoins the channel. While its transport is back-pressured it is *behind*:
``Laggards`` judges it by its rate over time, and drops it as too slow only if it stopped
reading or cannot keep up (see ``app.delivery.laggards``): one stuck reader can neither stall the room
nor grow memory without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, replace
from typing import Generic, Protocol, TypeVar

from app.delivery.laggards import Laggards
from app.domain.events import Event

log = logging.getLogger("app.fanout")

Chunk = TypeVar("Chunk", bytes, str)

REPLAY_WINDOW = 64 * 1024
"""Bytes of a replay written to one client in one loop turn, at most (and only while its
transport takes them): enough to fill a socket's buffer, small enough to keep the loop fair."""


@dataclass(frozen=True, slots=True)
class Run:
    """Wire bytes shared by every client that is sent them (a room's replay), packed once."""

    pieces: tuple[bytes, ...]
    events: int
    """How many events they carry (for the channel's count of chunks delivered)."""

    @property
    def size(self) -> int:
        return sum(map(len, self.pieces))


class _Reading:
    """One client's place in a shared run."""

    __slots__ = ("at", "run")

    def __init__(self, run: Run) -> None:
        self.run = run
        self.at = 0

    def rest(self) -> tuple[bytes, ...]:
        return self.run.pieces[self.at :]


class Codec(Protocol[Chunk]):
    """How one kind of client sees events."""

    def encode(self, event: Event, own: bool) -> Chunk | None:
        """The chunk for one event (``own``: the reader caused it); None sends nothing."""

    def pack(self, chunks: list[Chunk]) -> list[bytes]:
        """The bytes on the wire for a run of chunks, in bounded pieces (one write each)."""


class Flusher:
    """Collects what changed during a loop turn and writes it all in one callback at its end."""

    def __init__(
        self,
        schedule: Callable[[Callable[[], None]], object] | None = None,
        timed: Callable[[float], None] | None = None,
        after: Callable[[], None] | None = None,
    ) -> None:
        """``schedule`` runs the flush later (default: at the end of the current loop turn);
        ``timed`` is told how many seconds each flush took (for metrics); ``after`` is told
        when a turn's output is written (``Laggards.turn_over``)."""
        self._timed = timed
        self._after = after
        self._channels: list[Channel] = []  # type: ignore[type-arg]
        self._outboxes: list[Outbox] = []  # type: ignore[type-arg]
        self._scheduled = False
        self._schedule_flush = schedule or (lambda flush: asyncio.get_running_loop().call_soon(flush))

    def mark_channel(self, channel: Channel) -> None:  # type: ignore[type-arg]
        self._channels.append(channel)
        self._schedule()

    def mark_outbox(self, outbox: Outbox) -> None:  # type: ignore[type-arg]
        self._outboxes.append(outbox)
        self._schedule()

    def _schedule(self) -> None:
        if not self._scheduled:
            self._scheduled = True
            self._schedule_flush(self.flush)

    def flush(self) -> None:
        """Channels first, then the clients out of step (which may rejoin their channel after)."""
        started = time.perf_counter()
        self._scheduled = False
        channels, self._channels = self._channels, []
        outboxes, self._outboxes = self._outboxes, []
        for pending in (channels, outboxes):
            for item in pending:
                try:
                    item.flush()
                except Exception:  # one broken connection must not stop the others' flush
                    log.exception("flushing failed")
        if self._timed is not None:
            self._timed(time.perf_counter() - started)
        if self._after is not None:
            self._after()


class Channel(Generic[Chunk]):
    """All the clients of one room that share one codec. ``replay`` is how many recent events a
    newcomer of this kind is shown on joining."""

    def __init__(
        self, codec: Codec[Chunk], laggards: Laggards, flusher: Flusher, replay: int = 0, room: str = ""
    ) -> None:
        self.codec = codec
        self.laggards = laggards
        self.flusher = flusher
        self.replay = replay
        self.room = room
        self.kind: Channel[Chunk] = self
        """The default room's channel for this kind of client, which this one was made from."""
        self.in_step: set[Outbox[Chunk]] = set()
        self.out_of_step: set[Outbox[Chunk]] = set()
        self.guests: set[Outbox[Chunk]] = set()
        """Clients in this room whose current room is another: they get the aside version."""
        self.pending: list[Chunk] = []
        self._dirty = False
        self.delivered = 0
        """Chunks handed to clients so far (one per event and client): for metrics and idle pings."""

    def __len__(self) -> int:
        return len(self.in_step) + len(self.out_of_step)

    def sibling(self, room: str) -> Channel[Chunk]:
        """A channel for the same kind of client in another room."""
        channel = Channel(self.codec, self.laggards, self.flusher, self.replay, room)
        channel.kind = self.kind
        return channel

    def broadcast(
        self,
        event: Event,
        exclude: Outbox[Chunk] | None = None,
        skip: Collection[Outbox[Chunk]] = (),
        guests: bool = True,
    ) -> None:
        """Send a public event to every client of this channel except ``exclude`` (its sender,
        who gets its own version separately) and ``skip`` (shown it through another room);
        ``guests``: to the clients whose current room is another one too."""
        if self.in_step or self.out_of_step:
            chunk = self.codec.encode(event, False)
            if chunk is not None:
                if exclude is not None and exclude.channel is self:
                    exclude.fall_out_of_step()
                for outbox in skip:
                    if outbox.channel is self:
                        outbox.fall_out_of_step()
                self.pending.append(chunk)
                if self.out_of_step:
                    for outbox in list(self.out_of_step):
                        if outbox is not exclude and outbox not in skip:
                            outbox.push(chunk)
                if not self._dirty:
                    self._dirty = True
                    self.flusher.mark_channel(self)
        if guests and self.guests:
            aside = self.codec.encode(replace(event, aside=True), False)
            if aside is not None:
                for outbox in list(self.guests):
                    if outbox is not exclude and outbox not in skip:
                        outbox.push(aside)

    def flush(self) -> None:
        self._dirty = False
        if not self.pending:
            return
        pieces = self.codec.pack(self.pending)
        self.delivered += len(self.pending) * len(self.in_step)
        self.pending = []
        if len(pieces) == 1:
            data = pieces[0]
            for outbox in list(self.in_step):
                try:
                    outbox.write(data)
                except Exception:
                    log.exception("writing to a client failed")
        else:
            for outbox in list(self.in_step):
                try:
                    outbox.write_pieces(pieces)
                except Exception:
                    log.exception("writing to a client failed")


class Outbox(Generic[Chunk]):
    """One client's place in its channel, and its own backlog while out of step.

    It starts outside the channel; ``open`` lets broadcasts in."""

    __slots__ = (
        "_blocked",
        "_chunks",
        "_closed",
        "_dirty",
        "_in_step",
        "_on_overflow",
        "_packed",
        "_runs",
        "_size",
        "_visits",
        "channel",
        "write",
    )

    def __init__(
        self, channel: Channel[Chunk], write: Callable[[bytes], None], on_overflow: Callable[[], None]
    ) -> None:
        self.channel = channel
        self.write = write
        self._on_overflow = on_overflow
        self._chunks: list[Chunk | _Reading] = []  # its own backlog, not yet packed, and the shared runs among it
        self._packed: list[bytes] = []  # packed pieces not yet written, which go before the chunks
        self._size = 0  # bytes in both (shared runs not counted: they are not this client's alone)
        self._runs = 0  # shared runs among its chunks: while there are any, a window is written per turn
        self._dirty = False
        self._blocked = False
        self._closed = False
        self._in_step = False
        self._visits: set[Channel[Chunk]] | None = None
        """The channels of its other rooms, where it is a guest (None: in one room, the usual case)."""

    def open(self) -> None:
        """Start receiving the channel's broadcasts, after whatever was pushed already (so a
        welcome and history come before live events)."""
        self.channel.out_of_step.add(self)
        if not self._dirty and not self._blocked:
            self._dirty = True
            self.channel.flusher.mark_outbox(self)

    def push(self, chunk: Chunk) -> None:
        """Queue a chunk for this client only. Dropped as too slow if it cannot keep up."""
        if self._closed:
            return
        self._queue(chunk)
        self._size += len(chunk)
        if self._blocked and self._size > self.channel.laggards.limits.max_bytes:
            self.too_slow()

    def push_run(self, run: Run) -> None:
        """Queue bytes shared with other clients (a replay): written a window per turn, as the
        client reads, after what is queued already and before what comes next."""
        if self._closed or not run.pieces:
            return
        self._queue(_Reading(run))
        self._runs += 1

    def _queue(self, item: Chunk | _Reading) -> None:
        if self._in_step:
            self.fall_out_of_step()
        self._chunks.append(item)
        if not self._blocked and not self._dirty:
            self._dirty = True
            self.channel.flusher.mark_outbox(self)

    def push_control(self, frame: bytes) -> None:
        """A control frame for the peer (a pong): written at once unless back-pressured. Then it
        waits with the rest of this client's backlog and counts toward its limit, so a peer that
        pings and never reads is dropped as too slow, as one that never reads the room is."""
        if self._closed:
            return
        if not self._blocked:
            self.write(frame)
            return
        self._packed.append(frame)
        self._size += len(frame)
        if self._size > self.channel.laggards.limits.max_bytes:
            self.too_slow()

    def fall_out_of_step(self) -> None:
        """Leave the channel's shared writes, taking a copy of what it has pending this turn."""
        if not self._in_step or self._closed:
            return
        channel = self.channel
        channel.in_step.discard(self)
        channel.out_of_step.add(self)
        self._in_step = False
        if channel.pending:  # in step, nothing of its own was queued: start from the shared chunks
            self._chunks = list(channel.pending)
            self._size = sum(map(len, self._chunks))
        if not self._dirty and not self._blocked:
            self._dirty = True
            channel.flusher.mark_outbox(self)

    def flush(self) -> None:
        self._dirty = False
        if self._blocked or self._closed:
            return
        if self._chunks:
            self._packed += self._next_pieces()
        if self._packed:
            self.write_pieces(self._packed)
        if self._blocked or self._closed:
            return
        if self._chunks:  # a replay goes on next turn
            self._dirty = True
            self.channel.flusher.mark_outbox(self)
        elif not self._packed and not self.channel.pending:
            self._rejoin()

    def _next_pieces(self) -> list[bytes]:
        """What to write this turn, packed: everything queued, or while a shared run is queued, about
        ``REPLAY_WINDOW`` bytes of it (the rest stays queued, in order)."""
        codec, chunks = self.channel.codec, self._chunks
        if not self._runs:
            self._chunks = []
            self.channel.delivered += len(chunks)
            return codec.pack(chunks)  # type: ignore[arg-type]
        pieces: list[bytes] = []
        own: list[Chunk] = []
        taken = size = delivered = 0
        for item in chunks:
            if size >= REPLAY_WINDOW:
                break
            if not isinstance(item, _Reading):
                own.append(item)
                size += len(item)
                taken += 1
                delivered += 1
                continue
            if own:
                pieces += codec.pack(own)
                own = []
            run = item.run.pieces
            while item.at < len(run) and size < REPLAY_WINDOW:
                pieces.append(run[item.at])
                size += len(run[item.at])
                item.at += 1
            if item.at < len(run):
                break
            self._runs -= 1
            delivered += item.run.events
            taken += 1
        if own:
            pieces += codec.pack(own)
        del chunks[:taken]
        self.channel.delivered += delivered
        return pieces

    def write_pieces(self, pieces: list[bytes]) -> None:
        """Write pieces in order until the transport pushes back; keep the rest for later."""
        for done, piece in enumerate(pieces, 1):
            self.write(piece)  # may call blocked() at once
            if self._blocked or self._closed:
                self._packed = pieces[done:]
                self._size = sum(map(len, self._packed)) + self._own_queued()
                return
        self._packed, self._size = [], self._own_queued()

    def _own_queued(self) -> int:
        """Bytes of the chunks queued for this client alone (not the shared runs)."""
        return sum(len(chunk) for chunk in self._chunks if not isinstance(chunk, _Reading))

    def _rejoin(self) -> None:
        channel = self.channel
        channel.out_of_step.discard(self)
        channel.in_step.add(self)
        self._in_step = True
        channel.laggards.caught_up(self)

    def blocked(self) -> None:
        """The transport asked us to stop writing (its buffer is above the high-water mark)."""
        self._blocked = True
        self.fall_out_of_step()
        self.channel.laggards.fell_behind(self)

    def writable(self) -> None:
        """The transport drained: write what queued up meanwhile, then rejoin the channel."""
        self._blocked = False
        self.channel.laggards.progressed(self)
        if not self._closed and not self._dirty:
            self._dirty = True
            self.channel.flusher.mark_outbox(self)

    def too_slow(self) -> None:
        """Drop the client: it cannot keep up (see ``Laggards``)."""
        self.discard()
        self._on_overflow()

    @property
    def backlog(self) -> tuple[int, int]:
        """Chunks and bytes waiting for this client alone (while it is out of step)."""
        return len(self._chunks), self._size

    def take(self) -> bytes:
        """Everything not yet written, packed (for a last write before closing)."""
        if self._in_step:
            chunks: list[Chunk | _Reading] = list(self.channel.pending)
        else:
            chunks, self._chunks, self._runs = self._chunks, [], 0
        pieces, own = self._packed, []
        for item in chunks:
            if isinstance(item, _Reading):
                pieces += (self.channel.codec.pack(own) if own else []) + list(item.rest())
                own = []
            else:
                own.append(item)
        pieces += self.channel.codec.pack(own) if own else []
        self._packed, self._size = [], 0
        return b"".join(pieces)

    def skip(self) -> None:
        """Write nothing of what is queued so far (telnet's Abort Output); what comes next flows."""
        if self._closed:
            return
        self.fall_out_of_step()  # the channel's pending bytes this turn are among what is skipped
        self._chunks, self._packed, self._size, self._runs = [], [], 0, 0

    def discard(self) -> None:
        """Leave the channel and accept nothing more: the client is going away."""
        self._closed = True
        self._in_step = False
        self._chunks, self._packed, self._size, self._runs = [], [], 0, 0
        self.channel.in_step.discard(self)
        self.channel.out_of_step.discard(self)
        self.channel.laggards.caught_up(self)
        for channel in self._visits or ():
            channel.guests.discard(self)
        self._visits = None

    # -- rooms -------------------------------------------------------------------------------

    @property
    def opened(self) -> bool:
        """Receiving its channel's broadcasts (``open`` was called and it is not closed)."""
        return self._in_step or self in self.channel.out_of_step

    def seat(self, home: Channel[Chunk], visits: Collection[Channel[Chunk]]) -> None:
        """Make ``home`` (its current room's channel) the channel it shares writes with, and be
        a guest of ``visits`` (its other rooms'). What is already queued stays queued, in order."""
        if home is not self.channel:
            opened = self.opened
            self.fall_out_of_step()
            self.channel.out_of_step.discard(self)
            self.channel = home
            if opened and not self._closed:
                self.open()
        wanted = set(visits)
        for channel in (self._visits or set()) - wanted:
            channel.guests.discard(self)
        if not self._closed:
            for channel in wanted:
                channel.guests.add(self)
        self._visits = wanted or None

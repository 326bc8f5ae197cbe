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

A client falls out of step when something is meant for it alone (its welcome, an error, a
private message, its own message marked as its own) or when its transport is back-pressured.
It then keeps its own copy of the chunks in its ``Outbox`` and is written separately; once that
is written out it rejoins the channel. While its transport is back-pressured it is *behind*:
``Laggards`` judges it by its rate over time, and drops it as too slow only if it stopped
reading or cannot keep up (see ``app.laggards``): one stuck reader can neither stall the room
nor grow memory without bound.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Collection
from typing import Generic, Protocol, TypeVar

from app.domain.events import Event
from app.laggards import Laggards

log = logging.getLogger("app.fanout")

Chunk = TypeVar("Chunk", bytes, str)


class Codec(Protocol[Chunk]):
    """How one kind of client sees events."""

    def encode(self, event: Event, own: bool) -> Chunk | None:
        """The chunk for one event (``own``: the reader caused it); None sends nothing."""

    def pack(self, chunks: list[Chunk]) -> list[bytes]:
        """The bytes on the wire for a run of chunks, in bounded pieces (one write each)."""


def runs(blobs: list[bytes], limit: int) -> list[bytes]:
    """Whole blobs (frames, lines) joined into pieces of at most ``limit`` bytes, in order; a blob
    larger than that alone. Never cut inside one: a client dropped between two pieces still
    gets whole lines and frames before its goodbye."""
    pieces: list[bytes] = []
    run: list[bytes] = []
    size = 0
    for blob in blobs:
        if run and size + len(blob) > limit:
            pieces.append(b"".join(run))
            run, size = [], 0
        run.append(blob)
        size += len(blob)
    pieces.append(b"".join(run))
    return pieces


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
    """All the clients that share one codec. ``replay`` is how many recent events a newcomer of
    this kind is shown on joining."""

    def __init__(self, codec: Codec[Chunk], laggards: Laggards, flusher: Flusher, replay: int = 0) -> None:
        self.codec = codec
        self.laggards = laggards
        self.flusher = flusher
        self.replay = replay
        self.in_step: set[Outbox[Chunk]] = set()
        self.out_of_step: set[Outbox[Chunk]] = set()
        self.pending: list[Chunk] = []
        self._dirty = False
        self.delivered = 0
        """Chunks handed to clients so far (one per event and client): for metrics and idle pings."""

    def __len__(self) -> int:
        return len(self.in_step) + len(self.out_of_step)

    def broadcast(
        self, event: Event, exclude: Outbox[Chunk] | None = None, ignoring: Collection[Outbox[Chunk]] = ()
    ) -> None:
        """Send a public event to every client of this channel except ``exclude`` (its sender,
        who gets its own version separately) and those ``ignoring`` its sender."""
        if not self.in_step and not self.out_of_step:
            return
        chunk = self.codec.encode(event, False)
        if chunk is None:
            return
        if exclude is not None and exclude.channel is self:
            exclude.fall_out_of_step()
        if ignoring:
            for outbox in ignoring:
                if outbox.channel is self:
                    outbox.fall_out_of_step()
        self.pending.append(chunk)
        if self.out_of_step:
            for outbox in list(self.out_of_step):
                if outbox is not exclude and outbox not in ignoring:
                    outbox.push(chunk)
        if not self._dirty:
            self._dirty = True
            self.flusher.mark_channel(self)

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
        "_size",
        "channel",
        "write",
    )

    def __init__(
        self, channel: Channel[Chunk], write: Callable[[bytes], None], on_overflow: Callable[[], None]
    ) -> None:
        self.channel = channel
        self.write = write
        self._on_overflow = on_overflow
        self._chunks: list[Chunk] = []  # its own backlog, not yet packed
        self._packed: list[bytes] = []  # packed pieces not yet written, which go before the chunks
        self._size = 0  # bytes in both
        self._dirty = False
        self._blocked = False
        self._closed = False
        self._in_step = False

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
        if self._in_step:
            self.fall_out_of_step()
        chunks = self._chunks
        chunks.append(chunk)
        self._size += len(chunk)
        if self._blocked:
            if self._size > self.channel.laggards.limits.max_bytes:
                self.too_slow()
        elif not self._dirty:
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
            self.channel.delivered += len(self._chunks)
            self._packed += self.channel.codec.pack(self._chunks)
            self._chunks = []
        if self._packed:
            self.write_pieces(self._packed)
        if not self._blocked and not self._closed and not self._packed and not self.channel.pending:
            self._rejoin()

    def write_pieces(self, pieces: list[bytes]) -> None:
        """Write pieces in order until the transport pushes back; keep the rest for later."""
        for done, piece in enumerate(pieces, 1):
            self.write(piece)  # may call blocked() at once
            if self._blocked or self._closed:
                self._packed = pieces[done:]
                self._size = sum(map(len, self._packed)) + sum(map(len, self._chunks))
                return
        self._packed, self._size = [], sum(map(len, self._chunks))

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
        chunks = self._chunks if not self._in_step else self.channel.pending
        pieces = self._packed + (self.channel.codec.pack(chunks) if chunks else [])
        self._chunks, self._packed, self._size = [], [], 0
        return b"".join(pieces)

    def skip(self) -> None:
        """Write nothing of what is queued so far (telnet's Abort Output); what comes next flows."""
        if self._closed:
            return
        self.fall_out_of_step()  # the channel's pending bytes this turn are among what is skipped
        self._chunks, self._packed, self._size = [], [], 0

    def discard(self) -> None:
        """Leave the channel and accept nothing more: the client is going away."""
        self._closed = True
        self._in_step = False
        self._chunks, self._packed, self._size = [], [], 0
        self.channel.in_step.discard(self)
        self.channel.out_of_step.discard(self)
        self.channel.laggards.caught_up(self)

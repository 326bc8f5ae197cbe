"""Per-client bounded outboxes, flushed once per event-loop turn.

A broadcast only appends already-encoded chunks to each recipient's outbox and marks it
dirty; ``Flusher`` then writes every dirty outbox once, in one write, at the end of the
current loop turn. A broadcast therefore never awaits a client, and a burst of events costs
one system call per client instead of one per event. A client whose outbox overflows is
dropped with a reason, so one slow reader cannot grow memory or stall the room.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Chunk = TypeVar("Chunk", bytes, str)


@dataclass(frozen=True, slots=True)
class OutboxLimits:
    max_events: int = 256
    max_bytes: int = 1 << 20


class Flusher:
    """Collects dirty outboxes and flushes them all in one callback per loop turn."""

    def __init__(self) -> None:
        self._dirty: list[Outbox] = []  # type: ignore[type-arg]
        self._scheduled = False

    def mark(self, outbox: Outbox) -> None:  # type: ignore[type-arg]
        self._dirty.append(outbox)
        if not self._scheduled:
            self._scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _flush(self) -> None:
        dirty, self._dirty = self._dirty, []
        self._scheduled = False
        for outbox in dirty:
            outbox.flush()


class Outbox(Generic[Chunk]):
    """The chunks waiting for one client, and the writer that sends them.

    ``write`` receives everything pending at once and returns False when the transport is
    back-pressured; the outbox then keeps further chunks until ``writable()`` is called.
    """

    __slots__ = ("_blocked", "_chunks", "_closed", "_dirty", "_flusher", "_limits", "_on_overflow", "_size", "_write")

    def __init__(
        self,
        limits: OutboxLimits,
        flusher: Flusher,
        write: Callable[[list[Chunk]], bool],
        on_overflow: Callable[[], None],
    ) -> None:
        self._chunks: list[Chunk] = []
        self._size = 0
        self._limits = limits
        self._flusher = flusher
        self._write = write
        self._on_overflow = on_overflow
        self._dirty = False
        self._blocked = False
        self._closed = False

    def __len__(self) -> int:
        return len(self._chunks)

    def push(self, chunk: Chunk) -> None:
        """Queue a chunk; on overflow the client is dropped instead.

        The limits apply to what waits while the transport is back-pressured: a client keeping
        up gets a whole burst (say, many joins in one loop turn) in the next flush."""
        if self._closed:
            return
        chunks = self._chunks
        chunks.append(chunk)
        self._size += len(chunk)
        if self._blocked and (len(chunks) > self._limits.max_events or self._size > self._limits.max_bytes):
            self.discard()
            self._on_overflow()
            return
        if not self._dirty and not self._blocked:
            self._dirty = True
            self._flusher.mark(self)

    def flush(self) -> None:
        self._dirty = False
        if self._blocked or self._closed or not self._chunks:
            return
        chunks, self._chunks, self._size = self._chunks, [], 0
        if not self._write(chunks):
            self._blocked = True

    def blocked(self) -> None:
        """The transport asked us to stop writing (its buffer is above the high-water mark)."""
        self._blocked = True

    def writable(self) -> None:
        """The transport drained: send what queued up meanwhile."""
        self._blocked = False
        if not self._closed and self._chunks and not self._dirty:
            self._dirty = True
            self._flusher.mark(self)

    def discard(self) -> None:
        """Forget everything pending and accept nothing more: the client is going away."""
        self._chunks, self._size = [], 0
        self._closed = True

    def take(self) -> list[Chunk]:
        """Everything pending, removed from the outbox (for a last write before closing)."""
        chunks, self._chunks, self._size = self._chunks, [], 0
        return chunks

"""What every chat connection does the same way, whichever door it came in by."""

from __future__ import annotations

import asyncio

from app.delivery.fanout import Outbox
from app.domain.goodbye import Goodbye
from app.hub.core import Hub


class BufferedProtocol(asyncio.Protocol):
    """An asyncio protocol whose output goes through an outbox: flow control from the transport
    pauses and resumes the outbox, the hub's ``send`` queues in it, a client that cannot keep up
    is dropped as too slow, and its input can be left unread while the room's readers catch up."""

    __slots__ = ()
    hub: Hub
    outbox: Outbox  # type: ignore[type-arg]
    transport: asyncio.Transport | None
    closing: bool  # our side has begun to close: write nothing more but the goodbye

    def write(self, data: bytes) -> None:
        """Write wire bytes (the outbox's writer); nothing once closing has begun."""
        if not self.closing:
            self._write(data)

    def _write(self, data: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def _overflow(self) -> None:
        self.hub.drop(self, Goodbye.TOO_SLOW)  # type: ignore[arg-type]

    def pause_writing(self) -> None:
        self.outbox.blocked()

    def resume_writing(self) -> None:
        self.outbox.writable()

    def pause_input(self) -> None:
        """Leave what the client sends unread for now (the room is waiting for its readers)."""
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.pause_reading()

    def resume_input(self) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.resume_reading()

    def send(self, chunk: bytes | str) -> None:
        """Queue an encoded chunk for this client (hub.Client)."""
        self.outbox.push(chunk)  # type: ignore[arg-type]

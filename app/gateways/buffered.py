"""What every chat connection does the same way, whichever door it came in by."""

from __future__ import annotations

import asyncio

from app.fanout import Outbox


class BufferedProtocol(asyncio.Protocol):
    """An asyncio protocol whose output goes through an outbox: flow control from the transport
    pauses and resumes the outbox, and the hub's ``send`` queues in it."""

    __slots__ = ()
    outbox: Outbox  # type: ignore[type-arg]

    def pause_writing(self) -> None:
        self.outbox.blocked()

    def resume_writing(self) -> None:
        self.outbox.writable()

    def send(self, chunk: bytes | str) -> None:
        """Queue an encoded chunk for this client (hub.Client)."""
        self.outbox.push(chunk)  # type: ignore[arg-type]

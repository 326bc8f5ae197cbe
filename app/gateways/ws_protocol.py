"""uvicorn's sans-I/O WebSocket protocol, for the handshake only.

uvicorn and Starlette answer the upgrade request (origin check, query, accept or refuse).
This subclass publishes itself in the connection's scope (``extensions["chat.socket"]``) so
the WebSocket gateway can then hand the accepted connection to a much smaller protocol of its
own (``WebConnection``): an idle connection through ASGI costs a parked task, a queue, an
event and the full WebSocket library state.
"""

from __future__ import annotations

import asyncio
from typing import Any, Protocol

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from app.gateways.closing import SHUTDOWN_GRACE, reset

EXTENSION = "chat.socket"


class ChatWebSocketProtocol(WebSocketsSansIOProtocol):
    """Selected with ``uvicorn.Config(ws=ChatWebSocketProtocol)``."""

    def handle_connect(self, event: Request) -> None:
        super().handle_connect(event)
        scope = getattr(self, "scope", None)  # absent when the handshake itself was refused
        if scope is not None:
            scope["extensions"][EXTENSION] = self

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.early: bytearray | None = bytearray()
        """What the client sends once its upgrade request is read, kept raw for the successor
        (None once this protocol is to go on parsing itself, as for a refused connection)."""

    def data_received(self, data: bytes) -> None:
        """Read the upgrade request as uvicorn does; after it, keep the bytes unparsed. Frames
        then never go half through this parser and half through the successor's."""
        if self.handshake_initiated and self.early is not None:
            self.early += data
        else:
            super().data_received(data)

    def keep_parsing(self) -> None:
        """This connection stays with uvicorn to the end (it is being refused): parse what was kept."""
        early, self.early = self.early, None
        if early:
            super().data_received(bytes(early))

    def shutdown(self) -> None:
        """uvicorn is stopping: close as it does, then cut the connection if it is still open
        after a moment, instead of holding up the exit until the graceful timeout."""
        super().shutdown()
        self.loop.call_later(SHUTDOWN_GRACE, reset, self.transport, lambda: self.disconnected)

    def hand_over(self, connection: Successor) -> bytes:
        """Give the accepted connection to ``connection`` and step aside.

        This protocol leaves uvicorn's set of connections (its successor joins it), stops its
        pings, and stops using the transport, so the ASGI task can end without closing it.
        Returns what the client sent after its upgrade request, unparsed, for the successor to
        take in once it is ready.
        """
        self.stop_keepalive()
        self.connections.discard(self)
        transport, self.transport = self.transport, _DETACHED  # type: ignore[assignment]
        connection.adopt(transport, self.connections)
        if self.read_paused:
            self.read_paused = False
            transport.resume_reading()
        return bytes(self.conn.reader.buffer) + bytes(self.early or b"")


class Successor(Protocol):
    """The protocol that takes a connection over once its handshake is done."""

    def adopt(self, transport: asyncio.Transport, connections: set[Any]) -> None: ...


class _Detached:
    """Stands in for the transport once it has been handed over: uvicorn closes its transport
    when the ASGI app returns, and that must not close the connection."""

    def write(self, data: bytes) -> None:
        pass

    def close(self) -> None:
        pass

    def is_closing(self) -> bool:
        return True


_DETACHED = _Detached()

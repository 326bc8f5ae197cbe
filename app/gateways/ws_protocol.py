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

    def send_receive_event_to_app(self) -> None:
        """Close a client that sends invalid UTF-8 as text with 1007, as uvicorn does, but without
        logging a traceback: a client's bad bytes are not a server error, and must not flood the log."""
        if self.curr_msg_data_type == "text" and not self.close_sent and not _is_utf8(self.frames):
            self.frames = []
            self.logger.info("closing a WebSocket that sent invalid UTF-8 (1007)")
            self.conn.send_close(1007, "invalid UTF-8")
            self.handle_parser_exception()
            return
        super().send_receive_event_to_app()

    def shutdown(self) -> None:
        """uvicorn is stopping: close as it does, then cut the connection if it is still open
        after a moment, instead of holding up the exit until the graceful timeout."""
        super().shutdown()
        self.loop.call_later(SHUTDOWN_GRACE, reset, self.transport, lambda: self.disconnected)

    def hand_over(self, connection: Successor) -> tuple[list[str | bytes], bytes]:
        """Give the accepted connection to ``connection`` and step aside.

        This protocol leaves uvicorn's set of connections (its successor joins it), stops its
        pings, and stops using the transport, so the ASGI task can end without closing it.
        Returns what the client sent before the handshake completed: whole messages, then
        unparsed bytes, for the successor to take in once it is ready.
        """
        self.stop_keepalive()
        self.connections.discard(self)
        transport, self.transport = self.transport, _DETACHED  # type: ignore[assignment]
        connection.adopt(transport, self.connections)
        messages: list[str | bytes] = []
        while not self.queue.empty():
            message = self.queue.get_nowait()
            if message["type"] == "websocket.receive":
                text = message.get("text")
                messages.append(text if text is not None else message.get("bytes", b""))
        if self.read_paused:
            self.read_paused = False
            transport.resume_reading()
        return messages, bytes(self.conn.reader.buffer)


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


def _is_utf8(frames: list[bytes]) -> bool:
    data = frames[0] if len(frames) == 1 else b"".join(frames)
    if data.isascii():
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True

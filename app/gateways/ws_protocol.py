"""uvicorn's sans-I/O WebSocket protocol, with a direct path for pre-framed messages.

Through plain ASGI every ``send`` is framed again for each client and awaits the transport.
This subclass publishes itself in the connection's scope (``extensions["chat.socket"]``) so
the WebSocket gateway can write frames it built once, learn when the transport is
back-pressured, and close a stuck client without waiting for its buffer to drain.
"""

from __future__ import annotations

from collections.abc import Callable

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.http11 import Request

from app.gateways.closing import SHUTDOWN_GRACE, close_softly, reset

EXTENSION = "chat.socket"


class ChatWebSocketProtocol(WebSocketsSansIOProtocol):
    """Selected with ``uvicorn.Config(ws=ChatWebSocketProtocol)``."""

    on_pause: Callable[[], None] | None = None
    on_resume: Callable[[], None] | None = None

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

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.on_pause is not None:
            self.on_pause()

    def resume_writing(self) -> None:
        super().resume_writing()
        if self.on_resume is not None:
            self.on_resume()

    @property
    def open(self) -> bool:
        return self.handshake_complete and not self.close_sent and not self.transport.is_closing()

    def write_frame(self, frame: bytes) -> None:
        """Write an already-framed message; dropped silently once closing has begun."""
        if self.open:
            self.transport.write(frame)

    def close_now(self, code: int, reason: str) -> None:
        """Send a close frame and close, cutting the connection if the peer does not drain it."""
        if not self.open:
            return
        self.conn.send_close(code, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.close_sent = True
        self.queue.put_nowait({"type": "websocket.disconnect", "code": code, "reason": reason})
        close_softly(self.transport, lambda: self.disconnected)


def _is_utf8(frames: list[bytes]) -> bool:
    data = frames[0] if len(frames) == 1 else b"".join(frames)
    if data.isascii():
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True

"""The WebSocket gateway at ``/ws``: the page's connection, and websocat/wscat users.

JSON mode (default) sends event objects; ``?mode=text`` sends the same plain lines the TCP
gateway sends, one per frame. Input is the same in both: a ``say`` object or a bare line.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from starlette.websockets import WebSocket

from app.codecs import lines, wire
from app.codecs.wsframe import text_frame
from app.config import Settings
from app.domain.events import Event, Gateway, Kind
from app.gateways.outbox import Flusher, Outbox, OutboxLimits
from app.gateways.ws_protocol import EXTENSION, ChatWebSocketProtocol
from app.hub import Hub

log = logging.getLogger("app.websocket")

CLOSE_CODES = {"quit": 1000, "server restarting": 1012}
"""WebSocket close code per drop reason; anything else is a policy violation (1008)."""


class JsonCodec:
    """Events as JSON objects; several waiting events go out as one JSON array frame."""

    def encode(self, event: Event, own: bool) -> str:
        return wire.encode_event(event, own)

    def frames(self, chunks: list[str]) -> list[str]:
        return [wire.batch(chunks)]


class TextCodec:
    """Events as the TCP gateway's plain lines, one line per frame (for websocat users)."""

    def encode(self, event: Event, own: bool) -> str | None:
        if own and event.kind in lines.NOT_ECHOED:
            return None
        return "\n".join(lines.format_lines(event, own))

    def frames(self, chunks: list[str]) -> list[str]:
        return [line for chunk in chunks for line in chunk.split("\n")]


JSON, TEXT = JsonCodec(), TextCodec()


class WebClient:
    """One WebSocket connection, as the hub sees it."""

    gateway = Gateway.WEB

    def __init__(
        self,
        hub: Hub,
        websocket: WebSocket,
        codec: JsonCodec | TextCodec,
        flusher: Flusher,
        limits: OutboxLimits,
    ) -> None:
        self.hub = hub
        self.id = hub.next_id()
        self.websocket = websocket
        self.codec = codec
        client = websocket.client
        self.address = client.host if client else ""
        self.outbox: Outbox[str] = Outbox(limits, flusher, self._write, self._overflow)
        self.socket: ChatWebSocketProtocol | None = websocket.scope.get("extensions", {}).get(EXTENSION)
        if self.socket is not None:
            self.socket.on_pause = self.outbox.blocked
            self.socket.on_resume = self.outbox.writable

    def send(self, chunk: bytes | str) -> None:
        self.outbox.push(chunk)  # type: ignore[arg-type]

    def close(self, reason: str, notice: bytes | str | None) -> None:
        pending = self.outbox.take()
        self.outbox.discard()
        if isinstance(notice, str):
            pending.append(notice)
        if pending:
            self._write(pending)
        code = CLOSE_CODES.get(reason, 1008)
        reason = reason.encode()[:120].decode(errors="ignore")
        if self.socket is not None:
            self.socket.close_now(code, reason)
        else:
            _spawn(self.websocket.close(code, reason))

    def _write(self, chunks: list[str]) -> bool:
        frames = self.codec.frames(chunks)
        if self.socket is not None:
            for frame in frames:
                self.socket.write_frame(text_frame(frame.encode()))
            return True
        # Another ASGI server or WebSocket implementation: send through ASGI, one batch at a time.
        task = _spawn(self._send_via_asgi(frames))
        task.add_done_callback(lambda _: self.outbox.writable())
        return False

    async def _send_via_asgi(self, frames: list[str]) -> None:
        for frame in frames:
            await self.websocket.send_text(frame)

    def _overflow(self) -> None:
        self.hub.drop(self, "too slow (your connection is not keeping up with the room)")


_background: set[asyncio.Task[None]] = set()


def _spawn(coro) -> asyncio.Task[None]:  # type: ignore[no-untyped-def]
    """Run a send in the background, keeping a reference and swallowing a vanished peer."""

    async def guarded() -> None:
        try:
            await coro
        except Exception:  # the peer went away mid-send: its disconnect is handled by the reader
            log.debug("send to a closed WebSocket", exc_info=True)

    task = asyncio.ensure_future(guarded())
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


class WebSocketGateway:
    """The ``/ws`` endpoint: origin check, admission, then one receive loop per connection."""

    def __init__(self, hub: Hub, flusher: Flusher, limits: OutboxLimits, settings: Settings) -> None:
        self.hub = hub
        self.flusher = flusher
        self.limits = limits
        self.allowed_origins = frozenset(settings.allowed_origins)
        self.replay = {JSON: settings.web_history, TEXT: settings.tcp_replay}

    def origin_allowed(self, websocket: WebSocket) -> bool:
        """Browsers always send Origin: accept our own page and the configured origins only.
        Non-browser clients (websocat, scripts) send none and are not a cross-site risk."""
        origin = websocket.headers.get("origin")
        if origin is None or "*" in self.allowed_origins:
            return True
        if origin.rstrip("/") in self.allowed_origins:
            return True
        return urlsplit(origin).netloc.lower() == websocket.headers.get("host", "").lower()

    async def endpoint(self, websocket: WebSocket) -> None:
        if not self.origin_allowed(websocket):
            log.warning("refused WebSocket from foreign origin %s", websocket.headers.get("origin"))
            await websocket.close(code=1008)  # before accept: the handshake is answered with 403
            return
        codec = TEXT if websocket.query_params.get("mode") == "text" else JSON
        client = WebClient(self.hub, websocket, codec, self.flusher, self.limits)
        await websocket.accept()
        refusal = self.hub.refusal(client.address)
        if refusal is not None:
            notice = codec.encode(Event(Kind.ERROR, text=f"Connection refused: {refusal}", code="refused"), False)
            await websocket.send_text(notice or refusal)
            await websocket.close(code=1013, reason=refusal[:120])
            return
        params = websocket.query_params
        since = params.get("since", "")
        self.hub.connect(client, params.get("nick"), self.replay[codec], int(since) if since.isdigit() else None)
        try:
            await self._receive_loop(websocket, client)
        finally:
            self.hub.disconnect(client)

    async def _receive_loop(self, websocket: WebSocket, client: WebClient) -> None:
        hub = self.hub
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                hub.error(client, "Binary frames are not supported: send text", "bad_frame")
                continue
            try:
                line = wire.decode_frame(text)
            except wire.FrameError as problem:
                hub.error(client, str(problem), "bad_frame")
            else:
                hub.receive(client, line)

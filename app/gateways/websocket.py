"""The WebSocket gateway at ``/ws``: the page's connection, and websocat/wscat users.

JSON mode (default) sends event objects; ``?mode=text`` sends the same plain lines the TCP
gateway sends, one per frame. Input is the same in both: a ``say`` object or a bare line.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from starlette.websockets import WebSocket

from app.codecs import lines, wire
from app.codecs.wsframe import text_frame
from app.config import Settings
from app.domain.events import Event, Gateway, Kind
from app.fanout import Channel, Flusher, Outbox, OutboxLimits
from app.gateways.ws_protocol import EXTENSION, ChatWebSocketProtocol
from app.hub import Hub

log = logging.getLogger("app.websocket")

CLOSE_CODES = {"quit": 1000, "server restarting": 1012}
"""WebSocket close code per drop reason; anything else is a policy violation (1008)."""


class JsonCodec:
    """Events as JSON objects; several waiting events go out as one JSON array frame."""

    def encode(self, event: Event, own: bool) -> str:
        return wire.encode_event(event, own)

    def pack(self, chunks: list[str]) -> bytes:
        return text_frame(wire.batch(chunks).encode())


class TextCodec:
    """Events as the TCP gateway's plain lines, one line per frame (for websocat users)."""

    def encode(self, event: Event, own: bool) -> str | None:
        if own and event.kind in lines.NOT_ECHOED:
            return None
        return "\n".join(lines.format_lines(event, own))

    def pack(self, chunks: list[str]) -> bytes:
        return b"".join(text_frame(line.encode()) for chunk in chunks for line in chunk.split("\n"))


JSON, TEXT = JsonCodec(), TextCodec()


class WebClient:
    """One WebSocket connection, as the hub sees it."""

    gateway = Gateway.WEB

    def __init__(self, hub: Hub, websocket: WebSocket, channel: Channel[str], socket: ChatWebSocketProtocol) -> None:
        self.hub = hub
        self.id = hub.next_id()
        self.codec = channel.codec
        client = websocket.client
        self.address = client.host if client else ""
        self.socket = socket
        self.outbox = Outbox(channel, socket.write_frame, self._overflow)
        socket.on_pause = self.outbox.blocked
        socket.on_resume = self.outbox.writable

    def send(self, chunk: bytes | str) -> None:
        self.outbox.push(chunk)  # type: ignore[arg-type]

    def close(self, reason: str, notice: bytes | str | None) -> None:
        last = self.outbox.take()
        self.outbox.discard()
        if isinstance(notice, str):
            last += self.codec.pack([notice])
        if last:
            self.socket.write_frame(last)
        self.socket.close_now(CLOSE_CODES.get(reason, 1008), reason.encode()[:120].decode(errors="ignore"))

    def _overflow(self) -> None:
        self.hub.drop(self, "too slow (your connection is not keeping up with the room)")


class WebSocketGateway:
    """The ``/ws`` endpoint: origin check, admission, then one receive loop per connection."""

    def __init__(self, hub: Hub, flusher: Flusher, limits: OutboxLimits, settings: Settings) -> None:
        self.hub = hub
        self.channels = {JSON: Channel(JSON, limits, flusher), TEXT: Channel(TEXT, limits, flusher)}
        hub.channels.extend(self.channels.values())
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
        socket = websocket.scope.get("extensions", {}).get(EXTENSION)
        if socket is None:
            log.error("WebSocket refused: start the server with `python -m app` (it selects the WebSocket protocol)")
            await websocket.close(code=1011)
            return
        codec = TEXT if websocket.query_params.get("mode") == "text" else JSON
        client = WebClient(self.hub, websocket, self.channels[codec], socket)
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

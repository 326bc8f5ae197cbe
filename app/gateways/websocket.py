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
from app.domain.events import Event, Kind
from app.fanout import Channel, Flusher, runs
from app.gateways.keepalive import Keepalive
from app.gateways.ws_connection import WebConnection
from app.gateways.ws_protocol import EXTENSION
from app.hub import Hub
from app.laggards import Laggards

log = logging.getLogger("app.websocket")


MAX_FRAME = 64 * 1024
"""Bytes in one message the server sends (or CHAT_WS_MAX_FRAME if smaller): what browsers and
WebSocket libraries accept by default (``websockets``: 1 MiB), and short enough on a slow link
that a batch never holds up what follows it for long."""


class JsonCodec:
    """Events as JSON objects; several waiting events go out as JSON arrays of at most
    ``max_frame`` bytes each."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame

    def encode(self, event: Event, own: bool) -> str:
        return wire.encode_event(event, own)

    def pack(self, chunks: list[str]) -> list[bytes]:
        return [text_frame(payload) for payload in wire.batches(chunks, self.max_frame)]


class TextCodec:
    """Events as the TCP gateway's plain lines, one line per frame (for websocat users)."""

    def __init__(self, max_frame: int = MAX_FRAME) -> None:
        self.max_frame = max_frame

    def encode(self, event: Event, own: bool) -> str | None:
        if own and event.kind in lines.NOT_ECHOED:
            return None
        return "\n".join(lines.format_lines(event, own))

    def pack(self, chunks: list[str]) -> list[bytes]:
        frames = [text_frame(line.encode()) for chunk in chunks for line in chunk.split("\n")]
        return runs(frames, self.max_frame)


class WebSocketGateway:
    """The ``/ws`` endpoint: origin check and admission, then a ``WebConnection`` per client."""

    def __init__(self, hub: Hub, flusher: Flusher, laggards: Laggards, settings: Settings) -> None:
        self.hub = hub
        max_frame = min(MAX_FRAME, settings.ws_max_frame)
        self.json, self.text = JsonCodec(max_frame), TextCodec(max_frame)
        self.channels = {
            self.json: Channel(self.json, laggards, flusher, settings.web_history),
            self.text: Channel(self.text, laggards, flusher, settings.tcp_replay),
        }
        hub.channels.extend(self.channels.values())
        self.allowed_origins = frozenset(settings.allowed_origins)
        self.keepalive = Keepalive(settings.ws_ping_interval, settings.ws_ping_timeout)
        self.max_frame = settings.ws_max_frame

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
        """Handshake through Starlette, then hand the connection to a ``WebConnection``: the
        ASGI task ends here, and the connection lives on without it."""
        if not self.origin_allowed(websocket):
            log.warning("refused WebSocket from foreign origin %s", websocket.headers.get("origin"))
            await websocket.close(code=1008)  # before accept: the handshake is answered with 403
            return
        socket = websocket.scope.get("extensions", {}).get(EXTENSION)
        if socket is None:
            log.error("WebSocket refused: start the server with `python -m app` (it selects the WebSocket protocol)")
            await websocket.close(code=1011)
            return
        params = websocket.query_params
        codec = self.text if params.get("mode") == "text" else self.json
        since = params.get("since", "")
        resume = int(since) if since.isascii() and since.isdigit() and len(since) <= 18 else None
        address = websocket.client.host if websocket.client else ""
        # With X-Forwarded-For, uvicorn gave us the address it names (if it trusts the sender):
        # counted as it is, never exempt as a socket's own loopback or proxy peer would be.
        budget = self.hub.budget(address, forwarded="x-forwarded-for" in websocket.headers)
        await websocket.accept()
        refusal = self.hub.refusal(budget, params.get("nick"))
        if refusal is not None:
            socket.keep_parsing()
            notice = codec.encode(Event(Kind.ERROR, text=refusal.line(), code="refused"), False)
            await websocket.send_text(notice or refusal.line())
            await websocket.close(code=refusal.goodbye.code, reason=refusal.close_reason())
            return
        client = WebConnection(self.hub, self.channels[codec], address, budget, self.keepalive, self.max_frame)
        unparsed = socket.hand_over(client)
        self.hub.connect(client, params.get("nick"), resume, params.get("token"))
        if unparsed:
            client.data_received(unparsed)

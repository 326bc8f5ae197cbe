"""The WebSocket gateway at ``/ws``: the page's connection, and websocat/wscat users.

JSON mode (default) sends event objects; ``?mode=text`` sends the same plain lines the TCP
gateway sends, one per frame. Input is the same in both: a ``say`` object or a bare line.

A connection comes in by one of two paths, with the same rules and the same protocol: the lean
one (``python -m app``: our own door answers the handshake and a ``WebConnection`` keeps the
connection, a few KiB each), or the standard ASGI path (under any ASGI server: Starlette's
``WebSocket`` and a task per connection, heavier and slower).
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlsplit

from starlette.websockets import WebSocket

from app.codecs import lines, wire
from app.codecs.pieces import runs
from app.codecs.wsframe import close_frame, text_frame
from app.config import Settings
from app.delivery.fanout import Channel, Codec, Flusher
from app.delivery.laggards import Laggards
from app.domain.events import Event, Kind
from app.domain.goodbye import Goodbye, Refusal
from app.gateways.keepalive import Keepalive
from app.gateways.ws_asgi import AsgiWebConnection
from app.gateways.ws_connection import WebConnection
from app.hub.core import Hub

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


class WebSocketPath(enum.Enum):
    """How WebSockets are served, said once at start-up."""

    LEAN = "lean (our own protocol after the handshake, a few KiB per idle connection)"
    ASGI = "standard ASGI (about 25 KiB per idle connection; `python -m app` runs the lean path)"


@dataclass(frozen=True, slots=True)
class Ask:
    """What a client asks for in its query string: its kind of client, a nick (and the token that
    proves it, when registered), where to resume."""

    codec: Codec[str]
    nick: str | None
    resume: int | dict[str, int] | None
    rooms: tuple[str, ...] = ()
    token: str | None = None

    @classmethod
    def parse(cls, query: str, json: Codec[str], text: Codec[str]) -> Ask:
        """``mode=text``, ``nick=NAME``, ``token=...``, ``rooms=dev,ops``, ``since=ID`` or
        ``since=dev:120,ops:7`` (the last of repeated parameters counts; see ``wire.resume_params``)."""
        params = dict(parse_qsl(query, keep_blank_values=True))
        rooms, resume = wire.resume_params(params.get("rooms", ""), params.get("since", ""))
        codec = text if params.get("mode") == "text" else json
        return cls(codec, params.get("nick"), resume, rooms, params.get("token"))


class WebSocketGateway:
    """The ``/ws`` endpoint: origin check and admission, then a connection per client."""

    PATH = "/ws"

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
        self.proxies = settings.trusted_proxies
        self.keepalive = Keepalive(settings.ws_ping_interval, settings.ws_ping_timeout)
        self.max_frame = settings.ws_max_frame
        self.path = WebSocketPath.ASGI  # until our own door is handed to the server

    def origin_allowed(self, origin: str | None, host: str) -> bool:
        """Browsers always send Origin: accept our own page and the configured origins only.
        Non-browser clients (websocat, scripts) send none and are not a cross-site risk."""
        if origin is None or "*" in self.allowed_origins:
            return True
        if origin.rstrip("/") in self.allowed_origins:
            return True
        allowed = urlsplit(origin).netloc.lower() == host.lower()
        if not allowed:
            log.warning("refused WebSocket from foreign origin %s", origin)
        return allowed

    def refusal_frames(self, codec: Codec[str], refusal: Refusal) -> bytes:
        """What a refused client is told once its handshake is done: why, then a close frame."""
        notice = codec.encode(Event(Kind.ERROR, text=refusal.line(), code="refused"), False)
        frames = codec.pack([notice or refusal.line()])
        return b"".join(frames) + close_frame(refusal.goodbye.code, refusal.close_reason())

    def connection(self, codec: Codec[str], address: str, budget: str | None) -> WebConnection:
        """A lean connection for an accepted handshake (the door gives it the transport)."""
        return WebConnection(self.hub, self.channels[codec], address, budget, self.keepalive, self.max_frame)

    async def endpoint(self, websocket: WebSocket) -> None:
        """The standard ASGI path: the same checks, then a task-driven connection."""
        if not self.origin_allowed(websocket.headers.get("origin"), websocket.headers.get("host", "")):
            await websocket.close(code=Goodbye.REFUSED.code)  # before accept: answered with 403
            return
        ask = Ask.parse(websocket.scope.get("query_string", b"").decode("latin-1"), self.json, self.text)
        address = websocket.client.host if websocket.client else ""
        # With X-Forwarded-For, uvicorn gave us the address it names (if it trusts the sender):
        # counted as it is, never exempt as a socket's own loopback or proxy peer would be.
        budget = self.hub.budget(address, forwarded="x-forwarded-for" in websocket.headers)
        await websocket.accept()
        refusal = self.hub.refusal(budget, ask.nick)
        client = AsgiWebConnection(self.hub, self.channels[ask.codec], address, budget, websocket, self.max_frame)
        if refusal is not None:
            await client.refuse(self.refusal_frames(ask.codec, refusal))
            return
        self.hub.connect(client, ask.nick, ask.resume, ask.rooms, ask.token)
        await client.run()

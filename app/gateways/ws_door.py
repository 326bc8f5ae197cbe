"""The lean WebSocket door (``python -m app``): we answer the upgrade request ourselves.

uvicorn reads an HTTP request; when it asks for a WebSocket, uvicorn hands the connection to the
protocol its ``ws`` setting names, which is this door (see ``uvicorn_contact``). The door answers
the handshake through ``websockets``' sans-I/O ``ServerProtocol`` (``accept``, ``reject``,
``send_response``) after our own checks: the path, the page's origin, the client's address
behind trusted proxies, and admission. An accepted connection then belongs to a
``WebConnection`` (our frame parser and writer) in the same call, so whatever the client sends
after its request reaches the room.
"""

from __future__ import annotations

import asyncio
import logging
from http import HTTPStatus
from typing import TYPE_CHECKING, cast

from websockets.http11 import Request, Response
from websockets.server import ServerProtocol

from app.gateways.closing import SHUTDOWN_GRACE, close_softly
from app.gateways.forwarded import forwarded_client
from app.gateways.uvicorn_contact import Connections
from app.gateways.websocket import Ask
from app.gateways.ws_connection import WebConnection

if TYPE_CHECKING:
    from app.gateways.websocket import WebSocketGateway

HANDSHAKE_LOG = logging.getLogger("app.websocket.handshake")
"""For ``websockets``' own notes on each handshake ("connection open"): warnings only, as a
chat log with one line per connection would drown what matters."""
HANDSHAKE_LOG.setLevel(logging.WARNING)

END_OF_HEAD = b"\r\n\r\n"
MAX_HEAD = 64 * 1024
"""uvicorn has already read and bounded the request's head; this only bounds our own copy."""


class WebSocketDoor(asyncio.Protocol):
    """One upgrade request, until it is answered; then the ``WebConnection`` it became.

    uvicorn makes this door the transport's protocol once it has handed over the request, so the
    door passes on what reaches it until, one loop turn later, the connection replaces it."""

    __slots__ = ("connection", "connections", "gateway", "head", "lost", "transport")

    def __init__(self, gateway: WebSocketGateway, connections: Connections) -> None:
        self.gateway = gateway
        self.connections = connections  # uvicorn's open connections, which this door is one of
        self.transport: asyncio.Transport | None = None
        self.head = b""  # the request so far (uvicorn hands it over whole, in one piece)
        self.connection: WebConnection | None = None  # set once the handshake is accepted
        self.lost = False

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.connections.add(self)

    def data_received(self, data: bytes) -> None:
        if self.connection is not None:
            self.connection.data_received(data)
            return
        if self.transport is None or self.transport.is_closing():
            return
        self.head += data
        end = self.head.find(END_OF_HEAD)
        if end >= 0:
            head, rest = self.head[: end + len(END_OF_HEAD)], self.head[end + len(END_OF_HEAD) :]
            self.head = b""
            self._answer(head, rest)
        elif len(self.head) > MAX_HEAD:
            self.transport.close()

    def pause_writing(self) -> None:
        if self.connection is not None:
            self.connection.pause_writing()

    def resume_writing(self) -> None:
        if self.connection is not None:
            self.connection.resume_writing()

    def eof_received(self) -> None:
        return None  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.connections.discard(self)
        if self.connection is not None:
            self.connection.connection_lost(exc)

    def shutdown(self) -> None:
        """uvicorn is stopping while this handshake is unanswered: hang up."""
        if self.connection is None and self.transport is not None:
            self.transport.close()

    # -- the handshake -----------------------------------------------------------------------

    def _answer(self, head: bytes, rest: bytes) -> None:
        assert self.transport is not None
        handshake = ServerProtocol(logger=HANDSHAKE_LOG)
        handshake.receive_data(head)
        requests = [event for event in handshake.events_received() if isinstance(event, Request)]
        if not requests:
            self._refuse(handshake, handshake.reject(HTTPStatus.BAD_REQUEST, "Not a valid HTTP request.\n"))
            return
        request = requests[0]
        path, _, query = request.path.partition("?")
        if path != self.gateway.PATH:
            self._refuse(handshake, handshake.reject(HTTPStatus.NOT_FOUND, "Not Found\n"))
            return
        if not self.gateway.origin_allowed(request.headers.get("Origin"), request.headers.get("Host", "")):
            text = "Failed to open a WebSocket connection: this page's origin is not allowed.\n"
            self._refuse(handshake, handshake.reject(HTTPStatus.FORBIDDEN, text))
            return
        response = handshake.accept(request)
        if response.status_code != HTTPStatus.SWITCHING_PROTOCOLS:
            self._refuse(handshake, response)
            return
        self._send(handshake, response)
        self._open(Ask.parse(query, self.gateway.json, self.gateway.text), request, rest)

    def _open(self, ask: Ask, request: Request, rest: bytes) -> None:
        """The handshake is accepted: admit the client (or tell it why not) on our own frames."""
        transport = self.transport
        assert transport is not None
        peer = transport.get_extra_info("peername")
        peer_address = peer[0] if isinstance(peer, tuple) else ""
        named = forwarded_client(self.gateway.proxies, peer_address, request.headers.get("X-Forwarded-For"))
        address = named or peer_address
        budget = self.gateway.hub.budget(address, forwarded=named is not None)
        refusal = self.gateway.hub.refusal(budget, ask.nick)
        if refusal is not None:
            transport.write(self.gateway.refusal_frames(ask.codec, refusal))
            close_softly(transport, lambda: self.lost)
            return
        connection = self.connection = self.gateway.connection(ask.codec, address, budget)
        self.connections.discard(self)
        connection.adopt(transport, self.connections)
        # uvicorn makes this door the transport's protocol again once this call returns.
        asyncio.get_running_loop().call_soon(self._step_aside)
        self.gateway.hub.connect(connection, ask.nick, ask.resume, ask.rooms, ask.token)
        if rest:
            connection.data_received(rest)

    def _step_aside(self) -> None:
        transport, connection = self.transport, self.connection
        if transport is not None and connection is not None and not transport.is_closing():
            transport.set_protocol(connection)

    def _refuse(self, handshake: ServerProtocol, response: Response) -> None:
        """Answer with an HTTP error, then hang up (cut if the client will not let go)."""
        self._send(handshake, response)
        assert self.transport is not None
        close_softly(self.transport, lambda: self.lost, SHUTDOWN_GRACE)

    def _send(self, handshake: ServerProtocol, response: Response) -> None:
        handshake.send_response(response)
        assert self.transport is not None
        self.transport.write(b"".join(handshake.data_to_send()))

"""An open WebSocket connection, once our door has accepted its handshake: small, and task-free.

Through ASGI an idle connection holds a parked task (its coroutine frames), an ``asyncio.Queue``,
an ``asyncio.Event``, timers and a full WebSocket library state: about 25 KiB each. Once the
handshake is accepted (see ``ws_door``), the transport is given to this protocol instead. It
parses client frames itself, gives each message straight to the hub from ``data_received``,
writes the pre-framed bytes the outbox hands it, and is pinged by the gateway's shared keepalive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import cast

from websockets.frames import CloseCode

from app.codecs import wire
from app.codecs.wsframe import close_frame, control_frame
from app.codecs.wsparse import BINARY, CLOSE, PING, PONG, TEXT, MessageReader, ProtocolError
from app.delivery.fanout import Channel, Codec, Outbox
from app.domain.events import Gateway
from app.domain.goodbye import Goodbye
from app.gateways.buffered import BufferedProtocol
from app.gateways.closing import CLOSE_TIMEOUT, SHUTDOWN_GRACE, close_softly, reset
from app.gateways.keepalive import Keepalive
from app.gateways.pacing import PacedInput, sliced
from app.gateways.uvicorn_contact import Connections
from app.hub.contract import Client
from app.hub.core import Hub

log = logging.getLogger("app.websocket")


def take_message(hub: Hub, client: Client, data: bytes | str) -> None:
    """One whole message from a WebSocket client, whichever path it came by. Input that cannot be
    used is refused: it costs its sender (see ``Hub.refuse``)."""
    if isinstance(data, str):
        try:
            said = wire.decode_frame(data)
        except wire.FrameError as problem:
            hub.refuse(client, str(problem), "bad_frame")
        else:
            hub.receive(client, said.line, said.room)
    else:
        hub.refuse(client, "Binary frames are not supported: send text", "bad_frame")


class WebConnection(PacedInput, BufferedProtocol):
    """One WebSocket connection, as the hub sees it and as its transport's protocol."""

    __slots__ = (
        "address",
        "budget",
        "closing",
        "connections",
        "hub",
        "id",
        "input_after_close",
        "keepalive",
        "lost",
        "outbox",
        "pong_due",
        "reader",
        "transport",
        "waiting",
    )

    gateway = Gateway.WEB
    key_fingerprint: str | None = None  # only the SSH door knows its users by key

    def __init__(
        self, hub: Hub, channel: Channel[str], address: str, budget: str | None, keepalive: Keepalive, max_size: int
    ) -> None:
        self.hub = hub
        self.id = hub.next_id()
        self.address = address
        self.budget = budget
        self.outbox = Outbox(channel, self.write, self._overflow)
        self.keepalive = keepalive
        self.reader = MessageReader(max_size)
        self.transport: asyncio.Transport | None = None
        self.connections: Connections | None = None
        self.closing = False  # our close frame is sent (or the connection is failing): send nothing more
        self.lost = False
        self.pong_due = 0.0
        self.waiting = None
        self.input_after_close = 0

    @property
    def codec(self) -> Codec[str]:
        return self.outbox.channel.codec

    # -- taking over from the door ----------------------------------------------------------

    def adopt(self, transport: asyncio.Transport, connections: Connections) -> None:
        """Become the transport's protocol, in uvicorn's set of open connections (its graceful
        shutdown calls ``shutdown`` on each and waits for the set to empty)."""
        self.transport = transport
        self.connections = connections
        connections.add(self)
        transport.set_protocol(self)
        self.keepalive.add(self)

    # -- asyncio.Protocol ------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        if self.lost or (self.closing and self.cut_if_still_sending(data)):
            return
        self.take_input(self._frames(data))

    def _frames(self, data: bytes) -> Iterator[object]:
        """The messages in ``data``, then the protocol error that ends them, if any."""
        try:
            yield from sliced(self.reader.feed, data)
        except ProtocolError as problem:
            yield problem

    def handle(self, item: object) -> bool:
        if isinstance(item, ProtocolError):
            log.info("closing a WebSocket that broke the protocol (%d %s)", item.code, item.reason)
            self._fail(item.code, item.reason)
            return False
        kind, payload = cast(tuple[int, bytes | str], item)
        if kind in (TEXT, BINARY):
            if not self.closing:
                take_message(self.hub, self, payload)
        elif kind == PING:
            if not self.closing and self.hub.control(self):
                self.outbox.push_control(control_frame(PONG, cast(bytes, payload)))
        elif kind == PONG:
            if self.pong_due:
                self.pong_due = 0.0
            else:
                self.hub.control(self)  # unasked for: it costs what a ping does
        elif kind == CLOSE:
            self._close_received(cast(bytes, payload))
            return False
        return not self.lost

    def eof_received(self) -> None:
        return None  # the peer is gone without a close frame: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.keepalive.discard(self)
        if self.connections is not None:
            self.connections.discard(self)
        self.outbox.discard()
        self.hub.disconnect(self)

    # -- hub.Client --------------------------------------------------------------------------

    def hide_input(self, hidden: bool) -> None:
        """The page's input is its own: nothing to ask of it."""

    def close(self, goodbye: Goodbye, notice: bytes | str | None, detail: str = "") -> None:
        """Write what is queued and the notice, then a close frame; cut the peer if it does not
        drain it (see ``close_softly``)."""
        last = self.outbox.take()
        self.outbox.discard()
        if isinstance(notice, str):
            last += b"".join(self.codec.pack([notice]))
        if self.closing or self.lost or self.transport is None:
            return
        self._write(last + close_frame(goodbye.code, goodbye.close_reason(detail)))
        self.closing = True
        self.keepalive.discard(self)
        close_softly(self.transport, lambda: self.lost)

    # -- uvicorn's shutdown, the outbox and the keepalive -----------------------------------

    def shutdown(self) -> None:
        """uvicorn is stopping (our service has already said goodbye): close, and cut the
        connection if it is still open after a moment rather than hold up the exit."""
        if self.lost or self.transport is None:
            return
        if not self.closing:
            self.close(Goodbye.RESTARTING, None)
        self.transport.close()
        asyncio.get_running_loop().call_later(SHUTDOWN_GRACE, reset, self.transport, lambda: self.lost)

    def send_ping(self, frame: bytes) -> None:
        self.write(frame)

    def ping_timed_out(self) -> None:
        self.hub.tally.goodbyes[Goodbye.NOT_RESPONDING] += 1
        self._fail(Goodbye.NOT_RESPONDING.code, Goodbye.NOT_RESPONDING.close_reason())

    # -- internals ---------------------------------------------------------------------------

    def _close_received(self, payload: bytes) -> None:
        """The peer closes: echo its close frame (unless it is answering ours) and hang up."""
        assert self.transport is not None
        if not self.closing:
            self.closing = True
            self._write(control_frame(CLOSE, payload))
        self.transport.close()
        self._leave()

    def _fail(self, code: CloseCode | int, reason: str) -> None:
        """Close at once, for a protocol error or a dead peer (reset if it never drains)."""
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if not self.closing:
            self._write(close_frame(code, reason))
            self.closing = True
        transport.close()
        asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, reset, transport, lambda: self.lost)
        self._leave()

    def _leave(self) -> None:
        self.keepalive.discard(self)
        self.outbox.discard()
        self.hub.disconnect(self)

"""The TCP gateway: telnet and netcat users, one line per message.

A plain ``asyncio.Protocol`` per connection (no stream reader, no task): an idle user costs
one small object. Input goes through the line decoder to the hub; output leaves through the
client's outbox, written once per loop turn and paused while the kernel buffer is full.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import cast

from app.codecs import telnet
from app.codecs.lines import NOT_ECHOED
from app.domain.events import Event, Gateway
from app.gateways.outbox import Flusher, Outbox, OutboxLimits
from app.hub import Hub

log = logging.getLogger("app.tcp")

CLOSE_TIMEOUT = 5.0
"""How long a closing connection may take to drain before it is cut."""


class TelnetCodec:
    """Events as CRLF lines. A sender's own message is not echoed: their terminal shows it."""

    def encode(self, event: Event, own: bool) -> bytes | None:
        if own and event.kind in NOT_ECHOED:
            return None
        return telnet.encode_event(event, own)


TELNET = TelnetCodec()


class TcpClient(asyncio.Protocol):
    """One telnet/netcat connection."""

    gateway = Gateway.TELNET
    codec = TELNET

    def __init__(self, hub: Hub, flusher: Flusher, limits: OutboxLimits, max_line: int, replay: int) -> None:
        self.hub = hub
        self.replay = replay
        self.id = hub.next_id()
        self.address = ""
        self.outbox: Outbox[bytes] = Outbox(limits, flusher, self._write, self._overflow)
        self.decoder = telnet.LineDecoder(max_line)
        self.transport: asyncio.Transport | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        self.transport = transport
        peer = transport.get_extra_info("peername")
        self.address = peer[0] if peer else ""
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        refusal = self.hub.refusal(self.address)
        if refusal is not None:
            transport.write(f"! Connection refused: {refusal}\r\n".encode())
            transport.close()
            return
        self.hub.connect(self, replay=self.replay)

    def data_received(self, data: bytes) -> None:
        hub = self.hub
        for line in self.decoder.feed(data):
            if line is telnet.OVERLONG:
                limit = self.decoder.max_line
                hub.error(self, f"Line too long: not sent (the limit is {limit} bytes)", "too_long")
            elif self.transport is not None and not self.transport.is_closing():
                hub.receive(self, line)  # type: ignore[arg-type]

    def eof_received(self) -> bool:
        return False  # half-closed by the peer: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.outbox.discard()
        self.hub.disconnect(self, "connection lost" if exc else "")

    def pause_writing(self) -> None:
        self.outbox.blocked()

    def resume_writing(self) -> None:
        self.outbox.writable()

    # -- hub.Client --------------------------------------------------------------------------

    def send(self, chunk: bytes | str) -> None:
        self.outbox.push(chunk)  # type: ignore[arg-type]

    def close(self, reason: str, notice: bytes | str | None) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        last = b"".join(self.outbox.take())
        self.outbox.discard()
        if isinstance(notice, bytes):
            last += notice
        if last:
            transport.write(last)
        transport.close()
        asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, transport.abort)

    # -- outbox callbacks ------------------------------------------------------------------

    def _write(self, chunks: list[bytes]) -> bool:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(chunks[0] if len(chunks) == 1 else b"".join(chunks))
        return True

    def _overflow(self) -> None:
        self.hub.drop(self, "too slow (your connection is not keeping up with the room)")


class TcpGateway:
    """The listening socket; started and stopped by the app's lifespan."""

    def __init__(self, hub: Hub, flusher: Flusher, limits: OutboxLimits, max_line: int, replay: int) -> None:
        self.hub = hub
        self.flusher = flusher
        self.limits = limits
        self.max_line = max_line
        self.replay = replay
        self.server: asyncio.Server | None = None

    async def start(self, host: str, port: int, reuse_port: bool = False) -> None:
        """Bind and listen; a port already taken raises OSError (start-up fails loudly).
        With ``reuse_port``, several processes may listen on one port and the kernel spreads
        new connections over them (SO_REUSEPORT, Linux and BSD)."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: TcpClient(self.hub, self.flusher, self.limits, self.max_line, self.replay),
            host=host or None,
            port=port,
            reuse_address=True,
            reuse_port=reuse_port or None,
            backlog=1024,
        )
        bound = ", ".join(f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in self.server.sockets)
        log.info("TCP gateway listening on %s", bound)

    @property
    def port(self) -> int:
        assert self.server is not None
        return self.server.sockets[0].getsockname()[1]

    def stop_accepting(self) -> None:
        if self.server is not None:
            self.server.close()

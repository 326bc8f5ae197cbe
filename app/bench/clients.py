"""Benchmark clients as asyncio protocols: one telnet-style TCP client and one WebSocket client.

Both scan everything they receive for markers and record latency, duplicates and reordering
into the process's shared ``Tally``; neither keeps more than a partial line or frame around.
"""

from __future__ import annotations

import asyncio
import socket
import time

from app.bench import markers, wsframes
from app.bench.stats import Seen, Tally


class BenchClient(asyncio.Protocol):
    """What both gateways' clients share: readiness, marker accounting, and sending."""

    def __init__(self, tally: Tally, publisher: int | None = None) -> None:
        self.tally = tally
        self.publisher = publisher
        self.seen: dict[int, Seen] = {}
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.transport: asyncio.Transport | None = None
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.ready.done():
            self.ready.set_exception(exc or ConnectionError("closed by the server before its welcome"))

    def _became_ready(self) -> None:
        if not self.ready.done():
            self.ready.set_result(None)

    def account(self, data: bytes) -> None:
        """Record every marker in ``data``."""
        now = time.monotonic_ns()
        tally, seen, own = self.tally, self.seen, self.publisher
        histogram = tally.latency_us
        for pub, seq, sent_ns in markers.scan(data):
            if pub == own:
                tally.self_echo += 1
                continue
            track = seen.get(pub)
            if track is None:
                track = seen[pub] = Seen()
            if not track.record(seq, tally):
                continue
            histogram.add((now - sent_ns) // 1000)
            tally.received += 1
        tally.last_receive_ns = now

    def publish(self, text: str) -> None:
        raise NotImplementedError


TELNET_HELLO = b"\xff\xf1"
"""``IAC NOP``: what a telnet client's keepalive sends. Said on connecting, it tells the server a
telnet client is there, which welcomes it at once instead of after its quiet grace (a silent
connection may be a port scanner), so connection times measure the server, not the grace."""


class TcpBenchClient(BenchClient):
    """A telnet user: ready on its first bytes (the welcome), sends CRLF lines. In a ``room``, it
    joins it and leaves the room everyone starts in, and is ready once it has left that."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        transport.write(TELNET_HELLO)  # type: ignore[attr-defined]

    def __init__(self, tally: Tally, publisher: int | None = None, room: str | None = None) -> None:
        super().__init__(tally, publisher)
        self.partial = b""
        self.room = room

        self.parted: bytes | None = None
        """The line that says it left the room everyone starts in (once it knows that room)."""

    def data_received(self, data: bytes) -> None:
        whole, self.partial = markers.complete_lines(self.partial + data)
        if not self.ready.done():
            self._settle_in(whole)
        if whole:
            self.account(whole)

    def _settle_in(self, lines: bytes) -> None:
        if not self.room:
            self._became_ready()
        elif self.parted is None:
            start = markers.START_ROOM.search(lines)
            if start is not None and self.transport is not None:
                default = start.group(1).decode()
                self.transport.write(markers.tcp_line(f"/join #{self.room}") + markers.tcp_line(f"/part {default}"))
                self.parted = f"left {default}\r\n".encode()
        if self.parted is not None and self.parted in lines:
            self._became_ready()

    def publish(self, text: str) -> None:
        if self.transport is not None and not self.lost:
            self.transport.write(markers.tcp_line(text))


class WsBenchClient(BenchClient):
    """A page-like WebSocket client: upgrades, then is ready on its first frame (the welcome)."""

    def __init__(self, tally: Tally, host: str, port: int, path: str, publisher: int | None = None) -> None:
        super().__init__(tally, publisher)
        self.request, self.accept = wsframes.handshake(host, port, path)
        self.upgraded = False
        self.buffer = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        transport.write(self.request)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        try:
            if not self.upgraded and not self._upgrade():
                return
            for opcode, payload in wsframes.parse_frames(self.buffer):
                if opcode == wsframes.OP_PING:
                    self._send(payload, wsframes.OP_PONG)
                elif opcode == wsframes.OP_CLOSE:
                    self._send(payload[:2], wsframes.OP_CLOSE)
                    self.transport.close()  # type: ignore[union-attr]
                    return
                else:
                    self._became_ready()
                    self.account(payload)
        except wsframes.ProtocolError as problem:
            if not self.ready.done():
                self.ready.set_exception(problem)
            self.transport.abort()  # type: ignore[union-attr]

    def _upgrade(self) -> bool:
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0:
            return False
        wsframes.check_response(bytes(self.buffer[:end]), self.accept)
        del self.buffer[: end + 4]
        self.upgraded = True
        return True

    def _send(self, payload: bytes, opcode: int) -> None:
        if self.transport is not None and not self.lost and not self.transport.is_closing():
            self.transport.write(wsframes.client_frame(payload, opcode))

    def publish(self, text: str) -> None:
        self._send(markers.ws_say(text), wsframes.OP_TEXT)

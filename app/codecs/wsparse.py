"""Client-to-server WebSocket frames (RFC 6455 §5), parsed without I/O into whole messages.

An open connection needs only this much of a WebSocket library: masked frames, reassembly of
fragmented messages, size and UTF-8 checks, and control frames. Keeping it this small keeps an
idle connection small: the reader holds no buffer between frames and no per-connection tables.
"""

from __future__ import annotations

from collections.abc import Iterator

from websockets.frames import CloseCode, Opcode

try:
    from websockets.speedups import apply_mask  # the C version websockets itself uses
except ImportError:  # pragma: no cover - a websockets built without its C speedups
    from websockets.utils import apply_mask

CONTINUATION, TEXT, BINARY = Opcode.CONT, Opcode.TEXT, Opcode.BINARY
CLOSE, PING, PONG = Opcode.CLOSE, Opcode.PING, Opcode.PONG
_OPCODES = {opcode.value: opcode for opcode in Opcode}

PROTOCOL_ERROR, INVALID_DATA, TOO_BIG = CloseCode.PROTOCOL_ERROR, CloseCode.INVALID_DATA, CloseCode.MESSAGE_TOO_BIG

MAX_FRAGMENTS = 1024
"""Frames in one fragmented message. Bytes alone do not bound one: empty continuation frames add
nothing to its size but a list entry each (millions of them: tens of megabytes and seconds of
parsing). Clients fragment a message into a handful of frames, if at all."""

_SENDABLE_CLOSE_CODES = frozenset(CloseCode) - {
    CloseCode.NO_STATUS_RCVD,
    CloseCode.ABNORMAL_CLOSURE,
    CloseCode.TLS_HANDSHAKE,
}
"""Close codes a peer may put on the wire (1005, 1006 and 1015 only describe a closure)."""


class ProtocolError(Exception):
    """The peer broke the protocol: close the connection with ``code`` and ``reason``."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class MessageReader:
    """Turns the bytes a client sends into messages: ``(TEXT, str)``, ``(BINARY, bytes)``, and the
    control frames ``(PING | PONG | CLOSE, payload)``, in order.

    ``max_size`` bounds a whole message, fragments included: a frame that would pass it fails at
    its header, before its payload is buffered; ``MAX_FRAGMENTS`` bounds its number of frames.
    """

    __slots__ = ("_kind", "_parts", "_pending", "_size", "max_size")

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self._pending: bytes | bytearray = b""  # an incomplete frame, kept until the rest arrives
        self._kind = 0  # opcode of the fragmented message in progress (0: none)
        self._parts: list[bytes] | None = None
        self._size = 0

    def feed(self, data: bytes) -> Iterator[tuple[Opcode, bytes | str]]:
        """Yield the messages completed by ``data``; raise ProtocolError at the first violation
        (the messages before it are yielded first). Stop iterating only to abandon the connection:
        the rest of ``data`` is then never read."""
        if self._pending:
            self._pending += data
            buffer: bytes | bytearray = self._pending
        else:
            buffer = data
        end = len(buffer)
        pos = 0
        while end - pos >= 2:
            first, second = buffer[pos], buffer[pos + 1]
            opcode = first & 0x0F
            length = second & 0x7F
            start = pos + 6  # two header bytes, then the four-byte mask
            if length == 126:
                if end - pos < 4:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 4])
                start += 2
            elif length == 127:
                if end - pos < 10:
                    break
                length = int.from_bytes(buffer[pos + 2 : pos + 10])
                start += 8
            self._check(first, second, opcode, length)
            stop = start + length
            if stop > end:
                break
            payload = apply_mask(buffer[start:stop], buffer[start - 4 : start]) if length else b""
            pos = stop
            message = self._message(first & 0x80, opcode, payload)
            if message is not None:
                yield message
        rest = end - pos
        if not rest:
            self._pending = b""
        elif buffer is self._pending:
            del self._pending[:pos]  # type: ignore[union-attr]
        else:
            self._pending = bytearray(buffer[pos:])

    def _check(self, first: int, second: int, opcode: int, length: int) -> None:
        """Refuse a frame at its header, before its payload is buffered. The rules are checked in
        the order websockets checks them, so a frame that breaks several gets the same close code."""
        if BINARY < opcode < CLOSE or opcode > PONG:
            raise ProtocolError(PROTOCOL_ERROR, f"unknown opcode {opcode}")
        if not second & 0x80:
            raise ProtocolError(PROTOCOL_ERROR, "client frames must be masked")
        control = opcode >= CLOSE
        if not control and self._size + length > self.max_size:
            raise ProtocolError(TOO_BIG, f"message over {self.max_size} bytes")
        if first & 0x70:
            raise ProtocolError(PROTOCOL_ERROR, "reserved bits must be 0")
        if control:
            if not first & 0x80 or length > 125:
                raise ProtocolError(PROTOCOL_ERROR, "control frames must be whole and at most 125 bytes")
        elif opcode == CONTINUATION and not self._kind:
            raise ProtocolError(PROTOCOL_ERROR, "continuation frame without a message to continue")
        elif opcode != CONTINUATION and self._kind:
            raise ProtocolError(PROTOCOL_ERROR, "new message before the fragmented one is finished")
        elif opcode == CONTINUATION and len(self._parts) >= MAX_FRAGMENTS:  # type: ignore[arg-type]
            raise ProtocolError(TOO_BIG, f"message in over {MAX_FRAGMENTS} frames")

    def _message(self, fin: int, opcode: int, payload: bytes) -> tuple[Opcode, bytes | str] | None:
        if opcode >= CLOSE:
            if opcode == CLOSE:
                _check_close(payload)
            return _OPCODES[opcode], payload
        if opcode == CONTINUATION:
            assert self._parts is not None
            self._parts.append(payload)
            self._size += len(payload)
            if not fin:
                return None
            opcode, payload = self._kind, b"".join(self._parts)
            self._kind, self._parts, self._size = 0, None, 0
        elif not fin:
            self._kind, self._parts, self._size = opcode, [payload], len(payload)
            return None
        if opcode == BINARY:
            return BINARY, payload
        try:
            return TEXT, payload.decode()
        except UnicodeDecodeError:
            raise ProtocolError(INVALID_DATA, "invalid UTF-8") from None


def _check_close(payload: bytes) -> None:
    if not payload:
        return
    if len(payload) == 1:
        raise ProtocolError(PROTOCOL_ERROR, "close frame too short")
    try:  # the reason before the code, as websockets checks them
        payload[2:].decode()
    except UnicodeDecodeError:
        raise ProtocolError(INVALID_DATA, "invalid UTF-8 in close reason") from None
    code = int.from_bytes(payload[:2])
    if code not in _SENDABLE_CLOSE_CODES and not 3000 <= code < 5000:
        raise ProtocolError(PROTOCOL_ERROR, f"invalid close code {code}")

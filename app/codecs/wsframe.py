"""Server-to-client WebSocket frames (RFC 6455 §5.2), built directly so that an event batch is
framed once and the same bytes can be written to any number of clients."""

from __future__ import annotations

import struct
from collections.abc import Iterator

from websockets.frames import CloseCode, Opcode


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame carrying ``payload`` (which must be UTF-8)."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


def control_frame(opcode: Opcode, payload: bytes = b"") -> bytes:
    """A control frame (ping, pong or close); ``payload`` is at most 125 bytes."""
    return bytes((0x80 | opcode, len(payload))) + payload


def close_frame(code: CloseCode | int, reason: str = "") -> bytes:
    """A close frame; the reason is cut to fit the 125-byte limit without splitting a character."""
    return control_frame(Opcode.CLOSE, code.to_bytes(2, "big") + reason.encode()[:123].decode(errors="ignore").encode())


def read_frames(data: bytes) -> Iterator[tuple[Opcode, bytes]]:
    """The frames in bytes built by the functions above, as (opcode, payload): for a server that
    sends messages rather than bytes (the ASGI path), the same packed output, frame by frame."""
    pos, end = 0, len(data)
    while pos < end:
        opcode, length = Opcode(data[pos] & 0x0F), data[pos + 1]
        pos += 2
        if length == 126:
            (length,) = struct.unpack_from("!H", data, pos)
            pos += 2
        elif length == 127:
            (length,) = struct.unpack_from("!Q", data, pos)
            pos += 8
        yield opcode, data[pos : pos + length]
        pos += length

"""Server-to-client WebSocket frames (RFC 6455 §5.2), built directly so that an event batch is
framed once and the same bytes can be written to any number of clients."""

from __future__ import annotations

import struct


def text_frame(payload: bytes) -> bytes:
    """A final, unmasked text frame carrying ``payload`` (which must be UTF-8)."""
    length = len(payload)
    if length < 126:
        return bytes((0x81, length)) + payload
    if length < 1 << 16:
        return struct.pack("!BBH", 0x81, 126, length) + payload
    return struct.pack("!BBQ", 0x81, 127, length) + payload


def control_frame(opcode: int, payload: bytes = b"") -> bytes:
    """A control frame (ping 0x9, pong 0xA, close 0x8); ``payload`` is at most 125 bytes."""
    return bytes((0x80 | opcode, len(payload))) + payload


def close_frame(code: int, reason: str = "") -> bytes:
    """A close frame; the reason is cut to fit the 125-byte limit without splitting a character."""
    return control_frame(0x8, code.to_bytes(2, "big") + reason.encode()[:123].decode(errors="ignore").encode())

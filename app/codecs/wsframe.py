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

"""Pre-built server-to-client WebSocket text frames (RFC 6455 §5.2)."""

from __future__ import annotations

import struct

import pytest

from app.codecs.wsframe import text_frame


def parse(frame: bytes) -> tuple[int, bool, bytes]:
    """(first byte, mask bit, payload) of one frame, using the length the header declares."""
    first, second = frame[0], frame[1]
    length, offset = second & 0x7F, 2
    if length == 126:
        (length,), offset = struct.unpack("!H", frame[2:4]), 4
    elif length == 127:
        (length,), offset = struct.unpack("!Q", frame[2:10]), 10
    payload = frame[offset:]
    assert len(payload) == length
    return first, bool(second & 0x80), payload


@pytest.mark.parametrize(
    ("length", "header_size"), [(0, 2), (1, 2), (125, 2), (126, 4), (65535, 4), (65536, 10), (70000, 10)]
)
def test_text_frame_uses_the_shortest_length_encoding(length: int, header_size: int) -> None:
    payload = bytes(i % 251 for i in range(length))
    frame = text_frame(payload)
    assert len(frame) == header_size + length
    first, masked, parsed = parse(frame)
    assert first == 0x81  # FIN + text opcode
    assert not masked  # server frames are never masked
    assert parsed == payload

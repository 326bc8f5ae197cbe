"""The client side of RFC 6455, as much as a load generator needs: the upgrade request,
masked frames out, unmasked frames in (lengths of 7, 16 and 64 bits; ping; close)."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from collections.abc import Iterator

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_TEXT, OP_CLOSE, OP_PING, OP_PONG = 0x1, 0x8, 0x9, 0xA


class ProtocolError(Exception):
    """The server sent something that is not a WebSocket stream."""


def handshake(host: str, port: int, path: str) -> tuple[bytes, bytes]:
    """The upgrade request and the Sec-WebSocket-Accept value the server must answer with."""
    key = base64.b64encode(os.urandom(16))
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {key.decode()}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    return request, accept_for(key)


def accept_for(key: bytes) -> bytes:
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def check_response(head: bytes, accept: bytes) -> None:
    """Raise ProtocolError unless ``head`` (up to the blank line) accepts the upgrade."""
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 101"):
        raise ProtocolError(f"upgrade refused: {lines[0].decode(errors='replace')}")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:] if line)}
    if headers.get(b"sec-websocket-accept") != accept:
        raise ProtocolError("wrong Sec-WebSocket-Accept")


def client_frame(payload: bytes, opcode: int = OP_TEXT) -> bytes:
    """A final frame from client to server, masked with a fresh key as the RFC requires."""
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 1 << 16:
        head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    mask = os.urandom(4)
    repeated = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big")
    return head + mask + masked


def parse_frames(buffer: bytearray) -> Iterator[tuple[int, bytes]]:
    """Yield (opcode, payload) for each complete server frame, removing it from ``buffer``."""
    while len(buffer) >= 2:
        first, second = buffer[0], buffer[1]
        if second & 0x80:
            raise ProtocolError("server frames must not be masked")
        length, start = second & 0x7F, 2
        if length == 126:
            if len(buffer) < 4:
                return
            (length,), start = struct.unpack_from("!H", buffer, 2), 4
        elif length == 127:
            if len(buffer) < 10:
                return
            (length,), start = struct.unpack_from("!Q", buffer, 2), 10
        end = start + length
        if len(buffer) < end:
            return
        payload = bytes(buffer[start:end])
        del buffer[:end]
        yield first & 0x0F, payload

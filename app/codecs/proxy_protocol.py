"""The PROXY protocol header (HAProxy's, versions 1 and 2): what a TCP proxy sends first to say
who the real client is. Sans-I/O: fed bytes, it returns the header and what followed it.

Strict, as the specification asks of a receiver: the header must come first and whole, in one
of the two exact forms, within a bounded size; anything else is an error, never guessed at, and
the connection is to be closed (it did not come through the proxy we were told about).
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

V1_PREFIX = b"PROXY "
V1_MAX = 107
"""The longest version-1 header, CR LF included (the specification's bound)."""

V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
V2_FIXED = 16
V2_MAX_PAYLOAD = 2048
"""Addresses and TLVs we accept after the fixed part: ample for every proxy's TLVs in practice."""

_V2_LOCAL, _V2_PROXY = 0x0, 0x1
_V2_TCP4, _V2_TCP6, _V2_UNSPEC = 0x11, 0x21, 0x00


def is_proxy_header(data: bytes) -> bool:
    """True when a connection opens like a PROXY protocol header (v1's ``PROXY TCP4|TCP6|UNKNOWN``,
    or v2's signature): a proxy sending one to a port that does not expect it."""
    if data.startswith(V1_PREFIX):
        return data[len(V1_PREFIX) :].startswith((b"TCP4 ", b"TCP6 ", b"UNKNOWN"))
    return data.startswith(V2_SIGNATURE)


class ProxyHeaderError(ValueError):
    """The connection did not start with a valid PROXY protocol header; the message says why."""


@dataclass(frozen=True, slots=True)
class ProxyHeader:
    source: str | None
    """The client's address; None when the proxy speaks for itself (v1 ``UNKNOWN``, v2 ``LOCAL``:
    a health check), so the socket's own peer is the client."""


class ProxyHeaderReader:
    """Collects the header of one connection."""

    __slots__ = ("_buffer",)

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> tuple[ProxyHeader, bytes] | None:
        """The header and the bytes after it once it is complete; None while it is not.
        Raises ProxyHeaderError as soon as the bytes cannot be a valid header."""
        buffer = self._buffer = self._buffer + data
        head = buffer[: len(V2_SIGNATURE)]
        if V2_SIGNATURE.startswith(head):
            return _v2(buffer) if len(buffer) >= len(V2_SIGNATURE) else None
        if not V1_PREFIX.startswith(buffer[: len(V1_PREFIX)]):
            raise ProxyHeaderError("the connection did not start with a PROXY protocol header")
        end = buffer.find(b"\r\n", 0, V1_MAX)
        if end < 0:
            if len(buffer) >= V1_MAX:
                raise ProxyHeaderError(f"PROXY v1 header without CR LF in its first {V1_MAX} bytes")
            return None
        return _v1(buffer[:end]), buffer[end + 2 :]


def _v1(line: bytes) -> ProxyHeader:
    """``PROXY TCP4|TCP6 SRC DST SPORT DPORT`` or ``PROXY UNKNOWN ...``."""
    try:
        fields = line.decode("ascii").split(" ")
    except UnicodeDecodeError:
        raise ProxyHeaderError("PROXY v1 header is not ASCII") from None
    if len(fields) >= 2 and fields[1] == "UNKNOWN":
        return ProxyHeader(None)
    if len(fields) != 6 or fields[1] not in ("TCP4", "TCP6"):
        raise ProxyHeaderError("PROXY v1 header is not 'PROXY TCP4|TCP6 SRC DST SPORT DPORT'")
    version = 4 if fields[1] == "TCP4" else 6
    source, destination = (_address(text, version) for text in fields[2:4])
    for port in fields[4:6]:
        if not (port.isascii() and port.isdigit() and len(port) <= 5 and int(port) <= 65535):
            raise ProxyHeaderError(f"PROXY v1 header has a bad port {port!r}")
    del destination  # validated only: the client is what we need
    return ProxyHeader(source)


def _address(text: str, version: int) -> str:
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        raise ProxyHeaderError(f"PROXY v1 header has a bad address {text!r}") from None
    if ip.version != version:
        raise ProxyHeaderError(f"PROXY v1 header: {text!r} is not an IPv{version} address")
    return str(ip)


def _v2(buffer: bytes) -> tuple[ProxyHeader, bytes] | None:
    if len(buffer) < V2_FIXED:
        return None
    version_command, family, length = buffer[12], buffer[13], struct.unpack_from("!H", buffer, 14)[0]
    if version_command >> 4 != 2:
        raise ProxyHeaderError(f"PROXY v2 header with version {version_command >> 4}")
    command = version_command & 0xF
    if command not in (_V2_LOCAL, _V2_PROXY):
        raise ProxyHeaderError(f"PROXY v2 header with unknown command {command}")
    if length > V2_MAX_PAYLOAD:
        raise ProxyHeaderError(f"PROXY v2 header of {length} bytes (at most {V2_MAX_PAYLOAD} accepted)")
    if len(buffer) < V2_FIXED + length:
        return None
    payload, rest = buffer[V2_FIXED : V2_FIXED + length], buffer[V2_FIXED + length :]
    if command == _V2_LOCAL or family == _V2_UNSPEC:
        return ProxyHeader(None), rest
    if family == _V2_TCP4 and length >= 12:
        return ProxyHeader(str(ipaddress.IPv4Address(payload[:4]))), rest
    if family == _V2_TCP6 and length >= 36:
        return ProxyHeader(str(ipaddress.IPv6Address(payload[:16]))), rest
    raise ProxyHeaderError(f"PROXY v2 header for an unsupported or short address block (family 0x{family:02x})")

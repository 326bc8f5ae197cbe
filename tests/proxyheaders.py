"""PROXY protocol headers as a proxy (HAProxy, Fly's ``proxy_proto`` handler) sends them."""

from __future__ import annotations

import ipaddress
import struct

from app.codecs.proxy_protocol import V2_SIGNATURE


def v1(source: str, port: int = 40000) -> bytes:
    family = "TCP6" if ":" in source else "TCP4"
    destination = "fdaa::2" if family == "TCP6" else "10.0.0.2"
    return f"PROXY {family} {source} {destination} {port} 2626\r\n".encode()


def v2(command: int, family: int, payload: bytes) -> bytes:
    return V2_SIGNATURE + bytes((0x20 | command, family)) + struct.pack("!H", len(payload)) + payload


def v2_tcp4(source: str, tlv: bytes = b"") -> bytes:
    addresses = ipaddress.IPv4Address(source).packed + ipaddress.IPv4Address("10.0.0.2").packed
    return v2(1, 0x11, addresses + struct.pack("!HH", 40000, 2626) + tlv)


def v2_tcp6(source: str) -> bytes:
    addresses = ipaddress.IPv6Address(source).packed + ipaddress.IPv6Address("fdaa::2").packed
    return v2(1, 0x21, addresses + struct.pack("!HH", 40000, 2626))


V2_LOCAL = v2(0, 0x00, b"")
"""The proxy speaking for itself (a health check)."""

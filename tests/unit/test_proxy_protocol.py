"""The PROXY protocol header, v1 and v2, fed in any split: the client's address and the bytes
after the header come out; anything that is not exactly a header is refused with a reason."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from proxyheaders import V2_LOCAL, v1, v2, v2_tcp4, v2_tcp6

from app.codecs.proxy_protocol import V2_SIGNATURE, ProxyHeader, ProxyHeaderError, ProxyHeaderReader

GOOD = [
    (v1("203.0.113.5"), "203.0.113.5"),
    (v1("2001:db8::7"), "2001:db8::7"),
    (b"PROXY UNKNOWN\r\n", None),
    (b"PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n", None),
    (v2_tcp4("198.51.100.9"), "198.51.100.9"),
    (v2_tcp4("198.51.100.9", tlv=b"\x04\x00\x03abc"), "198.51.100.9"),
    (v2_tcp6("2001:db8::8"), "2001:db8::8"),
    (V2_LOCAL, None),  # LOCAL: the proxy's own health check
    (v2(0, 0x11, bytes(12)), None),
]


@pytest.mark.parametrize(("header", "source"), GOOD)
def test_a_valid_header_gives_the_client_address_and_keeps_what_follows(header: bytes, source: str | None) -> None:
    assert ProxyHeaderReader().feed(header + b"hello\r\n") == (ProxyHeader(source), b"hello\r\n")


@given(st.sampled_from(GOOD), st.lists(st.integers(min_value=1, max_value=40), max_size=8))
def test_any_split_of_the_header_reads_the_same(case: tuple[bytes, str | None], cuts: list[int]) -> None:
    header, source = case
    data, reader, at = header + b"/who\r\n", ProxyHeaderReader(), 0
    for size in [*cuts, len(data)]:
        piece, at = data[at : at + size], at + size
        result = reader.feed(piece)
        if result is not None:
            assert result == (ProxyHeader(source), b"/who\r\n"[: max(0, at - len(header))])
            return
    pytest.fail("the whole header was fed, yet no result")


BAD = [
    (b"hello there\r\n", "did not start with a PROXY protocol header"),
    (b"GET / HTTP/1.1\r\n", "did not start with a PROXY protocol header"),
    (b"PROXY TCP4 203.0.113.5 10.0.0.2 40000\r\n", "is not 'PROXY TCP4|TCP6"),
    (b"PROXY TCP5 203.0.113.5 10.0.0.2 40000 2626\r\n", "is not 'PROXY TCP4|TCP6"),
    (b"PROXY TCP4 2001:db8::7 10.0.0.2 40000 2626\r\n", "is not an IPv4 address"),
    (b"PROXY TCP4 203.0.113.x 10.0.0.2 40000 2626\r\n", "bad address '203.0.113.x'"),
    (b"PROXY TCP4 203.0.113.5 10.0.0.2 70000 2626\r\n", "bad port '70000'"),
    (b"PROXY TCP4 203.0.113.5 10.0.0.2 -1 2626\r\n", "bad port '-1'"),
    (b"PROXY TCP4 203.0.113.5  10.0.0.2 1 2626\r\n", "is not 'PROXY TCP4|TCP6"),
    (b"PROXY TCP4 \xff\r\n", "not ASCII"),
    (b"PROXY " + b"9" * 120, "without CR LF in its first 107 bytes"),
    (V2_SIGNATURE + b"\x11\x11\x00\x00", "version 1"),
    (V2_SIGNATURE + b"\x2f\x11\x00\x00", "unknown command 15"),
    (V2_SIGNATURE + b"\x21\x11\xff\xff", "of 65535 bytes"),
    (v2(1, 0x11, bytes(8)), "short address block"),
    (v2(1, 0x12, bytes(12)), "family 0x12"),  # UDP over IPv4 is not a TCP client
]


@pytest.mark.parametrize(("data", "reason"), BAD)
def test_anything_else_is_refused_with_its_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ProxyHeaderError, match=re.escape(reason)):
        ProxyHeaderReader().feed(data)


def test_a_wrong_start_is_refused_at_once_not_after_waiting_for_more() -> None:
    with pytest.raises(ProxyHeaderError):
        ProxyHeaderReader().feed(b"PX")
    reader = ProxyHeaderReader()
    assert reader.feed(b"PRO") is None
    assert reader.feed(b"XY TCP4 203.0.113.5 10.0.0.2 1 2") is None
    assert reader.feed(b"626\r\n") == (ProxyHeader("203.0.113.5"), b"")

"""The TCP line decoder and encoder: bytes in, lines out, whatever the stream throws at it."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.codecs.telnet import MAX_SUBNEGOTIATION, OVERLONG, LineDecoder, encode_event
from app.domain.events import Event, Gateway, Kind, User

IAC, SB, SE, WILL, WONT, DO, DONT, NOP = b"\xff", b"\xfa", b"\xf0", b"\xfb", b"\xfc", b"\xfd", b"\xfe", b"\xf1"


def decode(chunks: Iterable[bytes], max_line: int = 64) -> list[str | object]:
    decoder = LineDecoder(max_line)
    return [line for chunk in chunks for line in decoder.feed(chunk)]


def bytewise(data: bytes) -> list[bytes]:
    return [data[i : i + 1] for i in range(len(data))]


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"hello\n", ["hello"]),
        (b"hello\r\n", ["hello"]),
        (b"one\ntwo\r\nthree\n", ["one", "two", "three"]),
        (b"\n\r\n", ["", ""]),
        (b"no end yet", []),
        (b"caf\xc3\xa9 \xe2\x9c\x93\n", ["café ✓"]),
        (b"bad \xc3\x28 utf8\n", ["bad \ufffd( utf8"]),
        (b"\xff\xff\n", ["\ufffd"]),  # IAC IAC is a literal 0xFF data byte: invalid UTF-8
        (IAC + WILL + b"\x01hi\n", ["hi"]),
        (IAC + WONT + b"\x01h" + IAC + DO + b"\x03i" + IAC + DONT + b"\x22\n", ["hi"]),
        (b"a" + IAC + NOP + b"b\n", ["ab"]),  # two-byte command
        (IAC + DO + b"\n" + b"x\n", ["x"]),  # the option byte is never data, even when it is LF
        (b"a" + IAC + SB + b"\x18\x00xterm" + IAC + SE + b"b\n", ["ab"]),  # terminal type
        (b"a" + IAC + SB + b"\x1f\x00\x50\x00\x18" + IAC + SE + b"b\n", ["ab"]),  # window size
        (b"a" + IAC + SB + b"x\xff\xffy\nz" + IAC + SE + b"b\n", ["ab"]),  # IAC IAC and LF inside SB
    ],
)
def test_lines_in_one_feed_and_byte_by_byte(data: bytes, lines: list[str]) -> None:
    assert decode([data]) == lines
    assert decode(bytewise(data)) == lines


def test_subnegotiation_split_across_feeds() -> None:
    chunks = [b"be", IAC, SB + b"\x18", b"\x00xte", b"rm" + IAC, SE + b"fore", b" after\r", b"\n"]
    assert decode(chunks) == ["before after"]


def test_unterminated_subnegotiation_is_capped() -> None:
    junk = b"j" * (MAX_SUBNEGOTIATION + 1)
    # the cap ends the subnegotiation, so what follows is data again and the session goes on
    assert decode([IAC + SB + junk + b"after\n"]) == ["after"]
    assert decode(bytewise(IAC + SB + junk + b"after\n")) == ["after"]
    # within the cap everything is still swallowed
    short = b"j" * (MAX_SUBNEGOTIATION - 20)
    assert decode([IAC + SB + short + b"hidden\n" + IAC + SE + b"shown\n"]) == ["shown"]


def test_line_split_across_feeds() -> None:
    assert decode([b"hel", b"lo\r", b"\nwor", b"ld\n"]) == ["hello", "world"]


def test_multibyte_character_split_across_feeds() -> None:
    assert decode([b"caf\xc3", b"\xa9\n"]) == ["café"]


def test_line_of_exactly_max_line_bytes_passes() -> None:
    assert decode([b"x" * 16 + b"\n"], max_line=16) == ["x" * 16]
    assert decode(bytewise(b"x" * 16 + b"\n"), max_line=16) == ["x" * 16]


def test_overlong_line_in_one_feed_then_next_line_is_fine() -> None:
    assert decode([b"x" * 17 + b"\nok\n"], max_line=16) == [OVERLONG, "ok"]


def test_overlong_partial_line_is_reported_once_and_not_buffered() -> None:
    decoder = LineDecoder(max_line=16)
    out: list[str | object] = []
    for _ in range(1000):
        out += decoder.feed(b"y" * 7)
        assert len(decoder._buffer) <= decoder.max_line + 1  # + the CR of a CR LF
    out += decoder.feed(b"tail\nnext line\n")
    assert out == [OVERLONG, "next line"]


def test_overlong_partial_line_byte_by_byte() -> None:
    decoder = LineDecoder(max_line=16)
    out: list[str | object] = []
    for chunk in bytewise(b"z" * 100 + b"\nafter\n"):
        out += decoder.feed(chunk)
        assert len(decoder._buffer) <= decoder.max_line + 1  # + the CR of a CR LF
    assert out == [OVERLONG, "after"]


def test_overlong_when_a_buffered_line_ends_too_long() -> None:
    assert decode([b"x" * 10, b"x" * 10 + b"\nok\n"], max_line=16) == [OVERLONG, "ok"]


# -- properties --------------------------------------------------------------------------------

TELNETISH = st.sampled_from([IAC, SB, SE, WILL, DO, b"\n", b"\r\n", b"\xc3", b"\xa9", b"x" * 20])
STREAMS = st.lists(st.one_of(st.binary(max_size=40), TELNETISH), max_size=30).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(data=STREAMS, cuts=st.lists(st.integers(min_value=0, max_value=1200), max_size=12), max_line=st.integers(1, 48))
def test_any_split_gives_the_same_bounded_lines(data: bytes, cuts: list[int], max_line: int) -> None:
    points = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    decoder = LineDecoder(max_line)
    split: list[str | object] = []
    for chunk in chunks:
        split += decoder.feed(chunk)
        assert len(decoder._buffer) <= max_line + 1
    whole = decode([data], max_line)
    assert split == whole
    assert decode(bytewise(data), max_line) == whole
    for line in whole:
        if line is OVERLONG:
            continue
        assert isinstance(line, str)
        assert "\n" not in line
        # each undecodable byte becomes one U+FFFD, so count characters where there were some
        assert len(line) <= max_line
        if "\ufffd" not in line:
            assert len(line.encode()) <= max_line


# -- encoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "own", "data"),
    [
        (Event(Kind.MESSAGE, nick="alice", text="hi"), False, b"[alice] hi\r\n"),
        (Event(Kind.PRIVATE, nick="alice", to="bob", text="psst"), True, "[you → bob] psst\r\n".encode()),
        (Event(Kind.SYSTEM, text="two\nlines"), False, b"* two\r\n  lines\r\n"),
        (
            Event(Kind.WELCOME, nick="bob", text="Welcome", users=(User("bob", Gateway.TELNET),)),
            False,
            "Welcome\r\n* You are bob — change it with /nick NAME\r\n* Here now: nobody else yet\r\n".encode(),
        ),
    ],
)
def test_encode_event_is_utf8_lines_ending_in_crlf(event: Event, own: bool, data: bytes) -> None:
    assert encode_event(event, own) == data

"""The TCP line decoder and encoder: bytes in, lines out, whatever the stream throws at it."""

from __future__ import annotations

import itertools
from collections.abc import Iterable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.codecs.telnet import DROPPED_NOISE, MAX_SUBNEGOTIATION, OVERLONG, LineDecoder, Signal, encode_event
from app.domain.events import Event, Gateway, Kind, User

IAC, SB, SE, WILL, WONT, DO, DONT, NOP = b"\xff", b"\xfa", b"\xf0", b"\xfb", b"\xfc", b"\xfd", b"\xfe", b"\xf1"


def decode(chunks: Iterable[bytes], max_line: int = 64) -> list[str | bytes | Signal]:
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
        (IAC + WILL + b"\x01hi\n", [IAC + DONT + b"\x01", "hi"]),
        (IAC + WONT + b"\x01h" + IAC + DO + b"\x05i" + IAC + DONT + b"\x22\n", [IAC + WONT + b"\x05", "hi"]),
        (b"a" + IAC + NOP + b"b\n", ["ab"]),  # two-byte command
        (IAC + DO + b"\n" + b"x\n", [IAC + WONT + b"\n", "x"]),  # the option byte is never data, even when it is LF
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


def test_an_overlong_subnegotiation_is_dropped_to_the_end_of_its_line() -> None:
    junk = b"j" * (MAX_SUBNEGOTIATION * 4) + b"leak?\r\n"
    # nothing of it leaks into chat, and a client that never sends IAC SE keeps its session
    assert decode([IAC + SB + junk + IAC + SE + b"after\n"]) == ["after"]
    assert decode(bytewise(IAC + SB + junk + b"after\n")) == ["after"]
    decoder = LineDecoder(64)
    list(decoder.feed(IAC + SB + b"j" * 10_000))
    assert len(decoder._buffer) <= 1 and decoder.surplus == 1  # nothing held; charged as surplus
    assert list(decoder.feed(b"\nnext\n")) == ["next"]


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
    out: list[str | bytes | Signal] = []
    for _ in range(1000):
        out += decoder.feed(b"y" * 7)
        assert len(decoder._buffer) <= decoder.max_line + 1  # + the CR of a CR LF
    out += decoder.feed(b"tail\nnext line\n")
    assert out == [OVERLONG, "next line"]


def test_overlong_partial_line_byte_by_byte() -> None:
    decoder = LineDecoder(max_line=16)
    out: list[str | bytes | Signal] = []
    for chunk in bytewise(b"z" * 100 + b"\nafter\n"):
        out += decoder.feed(chunk)
        assert len(decoder._buffer) <= decoder.max_line + 1  # + the CR of a CR LF
    assert out == [OVERLONG, "after"]


def test_overlong_when_a_buffered_line_ends_too_long() -> None:
    assert decode([b"x" * 10, b"x" * 10 + b"\nok\n"], max_line=16) == [OVERLONG, "ok"]


# -- editing keys and telnet commands -----------------------------------------------------------

BS, DEL, IP, BRK, EC, EL, AYT, AO, TM = b"\x08", b"\x7f", b"\xf4", b"\xf3", b"\xf7", b"\xf8", b"\xf6", b"\xf5", b"\x06"


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"abc" + BS + b"d\n", ["abd"]),
        (b"wo" + BS + BS + b"hi\n", ["hi"]),
        (b"abc" + DEL + DEL + b"x\r\n", ["ax"]),
        (b"caf\xc3\xa9" + BS + b"e\n", ["cafe"]),  # one backspace removes one character, not one byte
        (b"ok \xf0\x9f\x91\x8d" + DEL + b"!\n", ["ok !"]),  # a four-byte emoji, whole
        (BS + BS + b"x\n", ["x"]),  # nothing to erase: harmless
        (b"one\n" + BS + b"two\n", ["one", "two"]),  # a finished line is not reopened
        (b"half" + IAC + IP + b"rest\n", ["rest"]),  # Ctrl-C discards the line typed so far
        (b"half" + IAC + BRK + b"rest\n", ["rest"]),
        (b"abc" + IAC + EC + b"d\n", ["abd"]),
        (b"caf\xc3\xa9" + IAC + EC + b"\n", ["caf"]),
        (b"typo" + IAC + EL + b"fixed\n", ["fixed"]),
    ],
)
def test_editing(data: bytes, lines: list[str]) -> None:
    assert decode([data]) == lines
    assert decode(bytewise(data)) == lines


def test_ctrl_c_as_telnet_sends_it_is_answered_with_will_timing_mark_in_order() -> None:
    # telnet sends IAC IP IAC DO TIMING-MARK for Ctrl-C, then shows nothing until the answer
    out = decode([b"/who\nhalf" + IAC + IP + IAC + DO + TM, b"next\n"])
    assert out == ["/who", IAC + WILL + TM, "next"]


def test_are_you_there_and_abort_output_are_signalled_in_order() -> None:
    out = decode([b"a\n" + IAC + AYT + b"b\n" + IAC + AO + IAC + DO + TM])
    assert out == ["a", Signal.ARE_YOU_THERE, "b", Signal.ABORT_OUTPUT, IAC + WILL + TM]


def test_every_other_option_is_refused_and_refusals_are_not_answered() -> None:
    offers = IAC + WILL + b"\x18" + IAC + WILL + b"\x1f" + IAC + DO + b"\x01" + IAC + DO + b"\x05"
    refusals = IAC + WONT + b"\x18" + IAC + DONT + b"\x01"  # a peer's refusals, or echoes of ours
    out = decode([offers + refusals + b"hi\n"])
    assert out == [IAC + DONT + b"\x18", IAC + DONT + b"\x1f", IAC + WONT + b"\x01", IAC + WONT + b"\x05", "hi"]


def test_negotiation_cannot_loop_against_a_peer_that_answers_everything() -> None:
    # a peer that answers each of our refusals with the matching refusal gets nothing more
    decoder = LineDecoder(64)
    replies = [r for r in decoder.feed(IAC + WILL + b"\x18" + IAC + DO + b"\x01") if isinstance(r, bytes)]
    for _ in range(5):
        echoes = b"".join(IAC + (WONT if r[1] == DONT[0] else DONT) + r[2:] for r in replies)
        replies = [r for r in decoder.feed(echoes) if isinstance(r, bytes)]
    assert replies == []


def test_surplus_counts_negotiation_beyond_the_first_of_each_kind() -> None:
    decoder = LineDecoder(64)
    opening = IAC + DO + b"\x03" + IAC + WILL + b"\x18" + IAC + SB + b"\x18\x00xterm" + IAC + SE + IAC + AYT
    list(decoder.feed(opening + b"hello\n"))
    assert decoder.surplus == 0  # an ordinary telnet opening costs nothing
    list(decoder.feed((IAC + WILL + b"\x18") * 10 + (IAC + AYT) * 3))
    assert decoder.surplus == 13
    list(decoder.feed(b"".join(IAC + DO + bytes([option]) for option in range(100))))
    assert decoder.surplus == 13 + 1 + 39  # DO 3 again, and all past the first 64 kinds: cycling is surplus too
    list(decoder.feed(b"ab" + BS + b"\n" + IAC + IP))
    before = decoder.surplus
    list(decoder.feed(b"x" + IAC + EC + IAC + EL))
    assert decoder.surplus == before  # editing is typing, not negotiation


def test_noise_counts_the_commands_that_carry_nothing() -> None:
    decoder = LineDecoder(64)
    nop, go_ahead, data_mark = IAC + b"\xf1", IAC + b"\xf9", IAC + b"\xf2"
    assert list(decoder.feed(nop + b"he" + go_ahead + b"llo\n" + data_mark)) == ["hello"]
    assert decoder.noise == 3 and decoder.surplus == 0
    list(decoder.feed(b"xy" + IAC + EC + IAC + EL + IAC + AYT + IAC + DO + b"\x03"))
    assert decoder.noise == 3  # editing, a question and negotiation all mean something


@pytest.mark.parametrize("key", [BS, DEL, IAC + EC, IAC + EL, IAC + IP, IAC + BRK, b"\x03", b"\x15"])
def test_editing_keys_that_erase_nothing_are_noise(key: bytes) -> None:
    decoder = LineDecoder(64)
    assert decode([key * 100 + b"ok\n"]) == ["ok"]  # harmless to the line after them
    list(decoder.feed(key * 100))
    assert decoder.noise == 100  # a stream of them is a flood that says nothing
    list(decoder.feed(b"typo" + key + b"\n"))
    assert decoder.noise == 100  # erasing what was typed is typing


@pytest.mark.parametrize("split", [False, True], ids=["in-one", "in-pieces"])
def test_a_line_that_never_ends_is_noise_for_each_max_line_dropped(split: bool) -> None:
    decoder = LineDecoder(max_line=16)
    data = b"z" * (18 + DROPPED_NOISE * 3)  # over the limit (and the room for a CR), then more
    chunks = [data[:4096], *bytewise(data[4096:4200]), data[4200:]] if split else [data]
    out = [item for chunk in chunks for item in decoder.feed(chunk)]
    assert out == [OVERLONG]  # one refusal said
    assert decoder.noise == 3  # and every DROPPED_NOISE bytes more costs as noise does
    assert list(decoder.feed(b"\nnext\n")) == ["next"]


# -- properties --------------------------------------------------------------------------------

TELNETISH = st.sampled_from(
    [IAC, SB, SE, WILL, DO, b"\n", b"\r\n", b"\xc3", b"\xa9", b"x" * 20, b"\x08", b"\x7f", IAC + b"\xf4", IAC + b"\xf7"]
)
STREAMS = st.lists(st.one_of(st.binary(max_size=40), TELNETISH), max_size=30).map(b"".join)


@settings(max_examples=200, deadline=None)
@given(data=STREAMS, cuts=st.lists(st.integers(min_value=0, max_value=1200), max_size=12), max_line=st.integers(1, 48))
def test_any_split_gives_the_same_bounded_lines(data: bytes, cuts: list[int], max_line: int) -> None:
    points = sorted({0, len(data), *(c for c in cuts if c < len(data))})
    chunks = [data[a:b] for a, b in itertools.pairwise(points)]
    decoder = LineDecoder(max_line)
    split: list[str | bytes | Signal] = []
    for chunk in chunks:
        split += decoder.feed(chunk)
        assert len(decoder._buffer) <= max_line + 1
    whole = decode([data], max_line)
    assert split == whole
    assert decode(bytewise(data), max_line) == whole
    for line in whole:
        if isinstance(line, bytes):
            assert len(line) == 3 and line[0] == 255 and line[1] in (251, 252, 254)  # WILL, WONT, DONT
            continue
        if not isinstance(line, str):
            continue
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


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        (b"a", []),
        (b"hi\r\x00", ["hi"]),  # Enter in telnet's character mode
        (b"one\r\x00two\r\n", ["one", "two"]),
        (b"nul\x00inside\n", ["nul\x00inside"]),  # a NUL not after CR is data (cleaned by the room)
        (b"half\x03rest\r\x00", ["rest"]),  # Ctrl-C as character mode sends it
        (b"typo\x15fixed\r\x00", ["fixed"]),  # Ctrl-U
    ],
)
def test_character_mode_keys(data: bytes, lines: list[str]) -> None:
    assert decode([data]) == lines
    assert decode(bytewise(data)) == lines


def test_an_overlong_line_in_character_mode_ends_at_cr_nul() -> None:
    assert decode(bytewise(b"x" * 40 + b"\r\x00ok\r\x00"), max_line=16) == [OVERLONG, "ok"]


def test_suppress_go_ahead_is_agreed_once_each_way() -> None:
    decoder = LineDecoder(64)
    sga = b"\x03"
    assert list(decoder.feed(IAC + DO + sga)) == [IAC + WILL + sga]
    assert list(decoder.feed(IAC + WILL + sga)) == [IAC + DO + sga]
    assert list(decoder.feed(IAC + DO + sga + IAC + WILL + sga)) == []  # already so: no answer, no loop
    assert list(decoder.feed(IAC + DONT + sga)) == [IAC + WONT + sga]
    assert list(decoder.feed(IAC + DONT + sga)) == []

"""The parser of client WebSocket frames: whole messages out, protocol errors with their close codes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from raw import client_frame

from app.codecs.wsparse import BINARY, CLOSE, MAX_FRAGMENTS, PING, PONG, TEXT, MessageReader, ProtocolError

CONT = 0x0
LIMIT = 100_000


def parse(data: bytes, max_size: int = LIMIT) -> list[tuple[int, bytes | str]]:
    return list(MessageReader(max_size).feed(data))


def frames(*specs: tuple[bytes, int, bool]) -> bytes:
    return b"".join(client_frame(payload, opcode, fin) for payload, opcode, fin in specs)


@pytest.mark.parametrize(
    ("data", "messages"),
    [
        (client_frame(b"hello"), [(TEXT, "hello")]),
        (client_frame(b""), [(TEXT, "")]),
        (client_frame("café ☕".encode()), [(TEXT, "café ☕")]),
        (client_frame(b"x" * 200), [(TEXT, "x" * 200)]),  # 16-bit length
        (client_frame(b"y" * 70_000), [(TEXT, "y" * 70_000)]),  # 64-bit length
        (client_frame(b"\x00\xff", BINARY), [(BINARY, b"\x00\xff")]),
        (client_frame(b"are you there", PING), [(PING, b"are you there")]),
        (client_frame(b"", PONG), [(PONG, b"")]),
        (client_frame(b"\x03\xe8bye", CLOSE), [(CLOSE, b"\x03\xe8bye")]),
        (client_frame(b"", CLOSE), [(CLOSE, b"")]),
        (client_frame(b"\x0f\xa0", CLOSE), [(CLOSE, b"\x0f\xa0")]),  # 4000: an application's own code
        (frames((b"one ", TEXT, False), (b"two ", CONT, False), (b"three", CONT, True)), [(TEXT, "one two three")]),
        (frames((b"\x01", BINARY, False), (b"\x02", CONT, True)), [(BINARY, b"\x01\x02")]),
        (
            frames((b"caf", TEXT, False), ("é".encode()[:1], CONT, False), ("é".encode()[1:], CONT, True)),
            [(TEXT, "café")],  # a character split between fragments is whole in the message
        ),
        (
            frames((b"half ", TEXT, False), (b"ping", PING, True), (b"done", CONT, True), (b"next", TEXT, True)),
            [(PING, b"ping"), (TEXT, "half done"), (TEXT, "next")],  # control frames may come between fragments
        ),
    ],
)
def test_frames_become_messages(data: bytes, messages: list[tuple[int, bytes | str]]) -> None:
    assert parse(data) == messages


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (client_frame(b"hi", mask=b""), 1002),  # clients must mask
        (bytes([0x81 | 0x40]) + client_frame(b"hi")[1:], 1002),  # a reserved bit, with no extension agreed
        (client_frame(b"hi", 0x3), 1002),  # unknown data opcode
        (client_frame(b"hi", 0xB), 1002),  # unknown control opcode
        (client_frame(b"ping", PING, fin=False), 1002),  # control frames cannot be fragmented
        (client_frame(b"p" * 126, PING), 1002),  # nor longer than 125 bytes
        (client_frame(b"orphan", CONT), 1002),  # continuation of nothing
        (frames((b"a", TEXT, False), (b"b", TEXT, True)), 1002),  # new message before the last one ended
        (client_frame(b"caf\xc3\x28"), 1007),
        (frames((b"caf\xc3", TEXT, False), (b"", CONT, True)), 1007),  # the message ends mid-character
        (client_frame(b"\x03", CLOSE), 1002),  # a close code needs two bytes
        (client_frame(b"\x03\xed", CLOSE), 1002),  # 1005 only describes a closure; it is never sent
        (client_frame(b"\x03\xe7", CLOSE), 1002),  # 999
        (client_frame(b"\x13\x88", CLOSE), 1002),  # 5000
        (client_frame(b"\x03\xe8\xff", CLOSE), 1007),  # a close reason must be UTF-8
        (client_frame(b"z" * (LIMIT + 1)), 1009),
        (frames((b"z" * (LIMIT // 2), TEXT, False), (b"z" * (LIMIT // 2 + 1), CONT, True)), 1009),
    ],
)
def test_protocol_violations_carry_their_close_code(data: bytes, code: int) -> None:
    with pytest.raises(ProtocolError) as raised:
        parse(data)
    assert raised.value.code == code
    assert raised.value.reason


def test_messages_before_a_violation_are_still_delivered() -> None:
    reader = MessageReader(LIMIT)
    received = []
    with pytest.raises(ProtocolError):
        for message in reader.feed(client_frame(b"first") + client_frame(b"second", mask=b"")):
            received.append(message)
    assert received == [(TEXT, "first")]


def test_an_oversized_frame_is_refused_from_its_header_before_its_payload_arrives() -> None:
    header = client_frame(b"z" * 70_000)[:14]
    with pytest.raises(ProtocolError) as raised:
        parse(header, max_size=65_536)
    assert raised.value.code == 1009


def test_a_frame_fed_byte_by_byte_is_one_message_at_its_last_byte() -> None:
    reader = MessageReader(LIMIT)
    data = client_frame(b"slowly")
    assert [list(reader.feed(data[i : i + 1])) for i in range(len(data))] == [[]] * (len(data) - 1) + [
        [(TEXT, "slowly")]
    ]


_text = st.text(max_size=300).map(lambda text: (TEXT, text))
_binary = st.binary(max_size=300).map(lambda data: (BINARY, data))
_control = st.tuples(st.sampled_from([PING, PONG]), st.binary(max_size=125))


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bytes, list[tuple[int, bytes | str]]]:
    """Random messages, the data ones cut into random fragments, as one byte stream."""
    messages = draw(st.lists(st.one_of(_text, _binary, _control), max_size=8))
    wire = b""
    for kind, content in messages:
        payload = content.encode() if isinstance(content, str) else content
        if kind in (PING, PONG):
            wire += client_frame(payload, kind)
            continue
        cuts = sorted(draw(st.lists(st.integers(0, len(payload)), max_size=3)))
        pieces = [payload[a:b] for a, b in zip([0, *cuts], [*cuts, len(payload)], strict=True)]
        for i, piece in enumerate(pieces):
            wire += client_frame(piece, kind if i == 0 else CONT, fin=i == len(pieces) - 1)
    return wire, messages


@given(_streams(), st.lists(st.integers(0, 4000), max_size=12))
def test_any_split_of_the_stream_parses_to_the_same_messages(stream, cuts: list[int]) -> None:
    wire, messages = stream
    reader = MessageReader(LIMIT)
    points = sorted({min(cut, len(wire)) for cut in cuts})
    chunks = [wire[a:b] for a, b in zip([0, *points], [*points, len(wire)], strict=True)]
    assert [message for chunk in chunks for message in reader.feed(chunk)] == messages


def test_a_fragmented_message_is_bounded_in_frames_as_well_as_bytes() -> None:
    start = client_frame(b"a", TEXT, fin=False)
    empty = client_frame(b"", CONT, fin=False)
    last = client_frame(b"z", CONT, fin=True)
    assert parse(start + empty * (MAX_FRAGMENTS - 2) + last) == [(TEXT, "az")]
    with pytest.raises(ProtocolError) as problem:
        parse(start + empty * MAX_FRAGMENTS + last)
    assert (problem.value.code, problem.value.reason) == (1009, f"message in over {MAX_FRAGMENTS} frames")

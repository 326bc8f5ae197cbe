"""Our frame parser against the reference: the same random client frame streams, cut at random
points, go to ``MessageReader`` and to ``websockets``' sans-I/O ``ServerProtocol`` in the open
state; both must deliver the same messages and reach the same decision (go on, or fail with the
same close code).

The reference is websockets' frame layer with messages put together as its connections do
(fragments joined, text decoded as UTF-8 when the message is complete). Policy differences we
keep, on purpose:

- a close frame in the middle of a fragmented message: RFC 6455 lets control frames come between
  fragments, and we take it as the client's goodbye; websockets fails the connection (1002);
- the size limit counts data frames only: websockets also refuses a control frame (at most 125
  bytes) bigger than what is left of the limit in the middle of a fragmented message (1009).
"""

from __future__ import annotations

import itertools
import struct
from dataclasses import dataclass

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.frames import CloseCode, Frame, Opcode
from websockets.protocol import State
from websockets.server import ServerProtocol

from app.codecs.wsparse import MessageReader, ProtocolError

Message = tuple[Opcode, bytes | str]
DATA = (Opcode.TEXT, Opcode.BINARY)
CONTROL = (Opcode.CLOSE, Opcode.PING, Opcode.PONG)


@dataclass(frozen=True)
class Spec:
    """One client frame, possibly broken on purpose."""

    opcode: int
    payload: bytes
    fin: bool = True
    rsv: int = 0
    masked: bool = True
    wide_length: bool = False  # a 16-bit length even where 7 bits would do

    def encode(self, mask: bytes) -> bytes:
        length = len(self.payload)
        first = (0x80 if self.fin else 0) | self.rsv << 4 | self.opcode
        mask_bit = 0x80 if self.masked else 0
        if length < 126 and not self.wide_length:
            header = struct.pack("!BB", first, mask_bit | length)
        elif length < 1 << 16:
            header = struct.pack("!BBH", first, mask_bit | 126, length)
        else:
            header = struct.pack("!BBQ", first, mask_bit | 127, length)
        if not self.masked:
            return header + self.payload
        return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(self.payload))


texts = st.text(max_size=40).map(str.encode)
close_payloads = st.one_of(
    st.just(b""),
    st.binary(min_size=1, max_size=1),
    st.builds(
        lambda code, reason: struct.pack("!H", code) + reason,
        st.sampled_from([1000, 1001, 1002, 1005, 1006, 1011, 1015, 1016, 2999, 3000, 4999, 5000]),
        st.one_of(texts, st.binary(max_size=8)),
    ),
)


@st.composite
def specs(draw: st.DrawFn) -> Spec:
    kind = draw(st.sampled_from(["text", "binary", "cont", "ping", "pong", "close", "odd"]))
    if kind == "close":
        opcode, payload = Opcode.CLOSE, draw(close_payloads)
    elif kind in ("ping", "pong"):
        opcode = Opcode.PING if kind == "ping" else Opcode.PONG
        payload = draw(st.binary(max_size=draw(st.sampled_from([20, 130]))))
    elif kind == "odd":
        opcode, payload = draw(st.sampled_from([3, 7, 11, 15])), draw(st.binary(max_size=4))
    else:
        opcode = {"text": Opcode.TEXT, "binary": Opcode.BINARY, "cont": Opcode.CONT}[kind]
        payload = draw(st.one_of(texts, st.binary(max_size=40), st.binary(min_size=126, max_size=300)))
    rare = st.integers(0, 19)
    return Spec(
        opcode,
        payload,
        fin=draw(st.booleans()) if opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT) or draw(rare) == 0 else True,
        rsv=draw(st.integers(1, 7)) if draw(rare) == 0 else 0,
        masked=draw(rare) != 0,
        wide_length=draw(rare) == 0,
    )


def cut(data: bytes, points: list[int]) -> list[bytes]:
    edges = sorted({p % (len(data) + 1) for p in points} | {0, len(data)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def ours(chunks: list[bytes], max_size: int) -> tuple[list[Message], int | None]:
    """Messages up to the first close, and the close code of a failure (None: no failure)."""
    reader, seen = MessageReader(max_size), []
    try:
        for chunk in chunks:
            for message in reader.feed(chunk):
                seen.append(message)
                if message[0] is Opcode.CLOSE:
                    return seen, None
    except ProtocolError as problem:
        return seen, problem.code
    return seen, None


def reference(chunks: list[bytes], max_size: int) -> tuple[list[Message], int | None]:
    protocol = ServerProtocol(state=State.OPEN, max_size=max_size)
    seen: list[Message] = []
    parts: list[bytes] = []
    kind: Opcode | None = None
    for chunk in chunks:
        protocol.receive_data(chunk)
        for frame in protocol.events_received():
            assert isinstance(frame, Frame)
            if frame.opcode in CONTROL:
                seen.append((frame.opcode, frame.data))
                if frame.opcode is Opcode.CLOSE:
                    return seen, None
                continue
            if frame.opcode in DATA:
                kind = frame.opcode
            parts.append(bytes(frame.data))
            if frame.fin:
                data, parts = b"".join(parts), []
                if kind is Opcode.TEXT:
                    try:
                        seen.append((Opcode.TEXT, data.decode()))
                    except UnicodeDecodeError:
                        return seen, CloseCode.INVALID_DATA
                else:
                    seen.append((Opcode.BINARY, data))
        if protocol.close_sent is not None:
            return seen, protocol.close_sent.code
    return seen, None


def valid_close(payload: bytes) -> bool:
    if not payload:
        return True
    if len(payload) == 1:
        return False
    code = struct.unpack("!H", payload[:2])[0]
    sendable = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014)
    return is_utf8(payload[2:]) and (code in sendable or 3000 <= code < 5000)


def policy_difference(frames: list[Spec], max_size: int) -> tuple[int, CloseCode] | None:
    """The first frame where websockets' policy departs from ours (see the module docstring), with
    the close code websockets fails with; None if the stream breaks a rule before (both fail then)."""
    open_size: int | None = None  # the size so far of the fragmented message in progress
    kind, parts = Opcode.TEXT, b""  # the data message in progress
    for index, spec in enumerate(frames):
        if not spec.masked or spec.opcode not in set(Opcode):
            return None
        if spec.opcode in CONTROL and len(spec.payload) > max_size - (open_size or 0):
            return index, CloseCode.MESSAGE_TOO_BIG  # websockets checks the size before anything else
        if spec.rsv:
            return None
        if spec.opcode in CONTROL:
            if not spec.fin or len(spec.payload) > 125:
                return None
            if spec.opcode == Opcode.CLOSE:
                inside = open_size is not None and valid_close(spec.payload)
                return (index, CloseCode.PROTOCOL_ERROR) if inside else None
            continue
        size = (open_size or 0) + len(spec.payload)
        if (open_size is None) == (spec.opcode == Opcode.CONT) or size > max_size:
            return None
        if spec.opcode != Opcode.CONT:
            kind, parts = Opcode(spec.opcode), b""
        parts += spec.payload
        if spec.fin and kind is Opcode.TEXT and not is_utf8(parts):
            return None
        open_size = None if spec.fin else size
    return None


def is_utf8(data: bytes) -> bool:
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    frames=st.lists(specs(), max_size=12),
    points=st.lists(st.integers(0, 10_000), max_size=8),
    mask=st.binary(min_size=4, max_size=4),
    max_size=st.sampled_from([64, 300, 1 << 16]),
)
def test_the_parser_agrees_with_websockets(frames: list[Spec], points: list[int], mask: bytes, max_size: int) -> None:
    chunks = cut(b"".join(spec.encode(mask) for spec in frames), points)
    their_messages, their_failure = reference(chunks, max_size)
    difference = policy_difference(frames, max_size)
    if difference is not None:  # up to that frame we agree; there websockets fails the connection
        index, code = difference
        before = cut(b"".join(spec.encode(mask) for spec in frames[:index]), points)
        assert ours(before, max_size) == (their_messages, None)
        assert their_failure == code
        return
    assert ours(chunks, max_size) == (their_messages, their_failure)

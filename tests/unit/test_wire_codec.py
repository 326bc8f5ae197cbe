"""The WebSocket JSON protocol: one object per event, client frames to input lines."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from app.codecs import wire
from app.codecs.wire import FrameError, Said, batch, decode_frame, encode_event, event_to_dict, iso_time
from app.domain.events import Event, Gateway, Kind, User

TS = 1_795_701_785.123  # 2026-11-26T14:03:05.123Z
TS_TEXT = "2026-11-26T14:03:05.123Z"
ALICE_HERE = (User("alice", Gateway.WEB), User("bob", Gateway.TELNET))


@pytest.mark.parametrize(
    ("event", "own", "expected"),
    [
        (
            Event(Kind.MESSAGE, nick="alice", text="hi", id=7, ts=TS, origin=1),
            False,
            {"type": "message", "id": 7, "ts": TS_TEXT, "nick": "alice", "text": "hi"},
        ),
        (
            Event(Kind.MESSAGE, nick="alice", text="hi", id=7, ts=TS, origin=1),
            True,
            {"type": "message", "id": 7, "ts": TS_TEXT, "nick": "alice", "text": "hi", "self": True},
        ),
        (
            Event(Kind.ACTION, nick="bob", text="waves", id=8, ts=TS),
            False,
            {"type": "action", "id": 8, "ts": TS_TEXT, "nick": "bob", "text": "waves"},
        ),
        (
            Event(Kind.JOIN, nick="bob", gateway=Gateway.TELNET, id=9, ts=TS),
            False,
            {"type": "join", "id": 9, "ts": TS_TEXT, "nick": "bob", "gateway": "telnet"},
        ),
        (
            Event(Kind.LEAVE, nick="bob", gateway=Gateway.TELNET, id=10, ts=TS),
            False,
            {"type": "leave", "id": 10, "ts": TS_TEXT, "nick": "bob", "gateway": "telnet"},
        ),
        (
            Event(Kind.LEAVE, nick="bob", text="off to bed", gateway=Gateway.WEB, id=11, ts=TS),
            False,
            {"type": "leave", "id": 11, "ts": TS_TEXT, "nick": "bob", "text": "off to bed", "gateway": "web"},
        ),
        (
            Event(Kind.NICK, nick="robert", old="bob", gateway=Gateway.WEB, id=12, ts=TS),
            False,
            {"type": "nick", "id": 12, "ts": TS_TEXT, "nick": "robert", "old": "bob", "gateway": "web"},
        ),
        (
            Event(Kind.PRIVATE, nick="alice", to="bob", text="psst"),
            False,
            {"type": "private", "nick": "alice", "to": "bob", "text": "psst"},
        ),
        (
            Event(Kind.PRIVATE, nick="alice", to="bob", text="psst"),
            True,
            {"type": "private", "nick": "alice", "to": "bob", "text": "psst", "self": True},
        ),
        (
            Event(Kind.WELCOME, nick="bob", text="Hello", gateway=Gateway.TELNET, users=ALICE_HERE),
            False,
            {
                "type": "welcome",
                "nick": "bob",
                "text": "Hello",
                "gateway": "telnet",
                "users": [{"nick": "alice", "gateway": "web"}, {"nick": "bob", "gateway": "telnet"}],
            },
        ),
        (
            Event(Kind.USERS, users=ALICE_HERE),
            False,
            {"type": "users", "users": [{"nick": "alice", "gateway": "web"}, {"nick": "bob", "gateway": "telnet"}]},
        ),
        (Event(Kind.USERS), False, {"type": "users", "users": []}),
        (Event(Kind.SYSTEM, text="line one\nline two"), False, {"type": "system", "text": "line one\nline two"}),
        (
            Event(Kind.ERROR, text="Slow down", code="rate_limited"),
            False,
            {"type": "error", "text": "Slow down", "code": "rate_limited"},
        ),
    ],
)
def test_event_to_dict_per_kind(event: Event, own: bool, expected: dict[str, Any]) -> None:
    assert event_to_dict(event, own) == expected
    assert json.loads(encode_event(event, own)) == expected


def test_encode_event_is_compact_and_keeps_unicode_readable() -> None:
    text = encode_event(Event(Kind.MESSAGE, nick="zoë", text='say "hi" 😀', id=1, ts=TS))
    assert text == '{"type":"message","id":1,"ts":"' + TS_TEXT + '","nick":"zoë","text":"say \\"hi\\" 😀"}'


@pytest.mark.parametrize(
    ("ts", "text"),
    [
        (0.0, "1970-01-01T00:00:00.000Z"),
        (TS, TS_TEXT),
        (1_795_701_785.0, "2026-11-26T14:03:05.000Z"),
        (1_795_701_785.9999, "2026-11-26T14:03:05.999Z"),  # truncated, never rounded into the next second
    ],
)
def test_iso_time_is_utc_with_milliseconds(ts: float, text: str) -> None:
    assert iso_time(ts) == text
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", iso_time(ts))


def test_batch_of_one_is_the_object_itself_and_of_several_an_array() -> None:
    first = encode_event(Event(Kind.MESSAGE, nick="a", text="1", id=1, ts=TS))
    second = encode_event(Event(Kind.MESSAGE, nick="b", text="2", id=2, ts=TS))
    assert batch([first]) == first
    assert json.loads(batch([first, second])) == [json.loads(first), json.loads(second)]


@pytest.mark.parametrize(
    ("frame", "line"),
    [
        ('{"type":"say","text":"hello"}', "hello"),
        ('  {"type": "say", "text": "/nick bob", "extra": 1}  ', "/nick bob"),
        ('{"type":"say","text":""}', ""),
        ("just typing", "just typing"),
        ("/me waves", "/me waves"),
        ("42", "42"),
        ('"hi"', '"hi"'),
        ("[1, 2]", "[1, 2]"),
        ("", ""),
    ],
)
def test_decode_frame_to_line(frame: str, line: str) -> None:
    assert decode_frame(frame) == Said(line, None)


@pytest.mark.parametrize(
    ("frame", "said"),
    [
        ('{"type":"say","text":"hi","room":"#dev"}', Said("hi", "#dev")),
        ('{"type":"say","text":"hi","room":"dev"}', Said("hi", "dev")),
        ('{"type":"say","text":"hi","room":""}', Said("hi", None)),
    ],
)
def test_a_say_frame_carries_the_room_it_was_typed_for(frame: str, said: Said) -> None:
    assert decode_frame(frame) == said


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        ('{"type":"say","text":"unterminated', "Malformed JSON"),
        ("{not json}", "Malformed JSON"),
        ('{"type":"shout","text":"hi"}', "Unknown frame type 'shout'"),
        ('{"text":"hi"}', "Unknown frame type None"),
        ('{"type":"say"}', '"text" as a string'),
        ('{"type":"say","text":5}', '"text" as a string'),
        ('{"type":"say","text":null}', '"text" as a string'),
        ('{"type":"say","text":["a"]}', '"text" as a string'),
        ('{"type":"say","text":' + "[" * 50_000, "JSON nested too deeply"),
        ('{"a":' * 10_000 + "1" + "}" * 10_000, "JSON nested too deeply"),
        ('{"type":"say","text":"hi","room":7}', '"room" is a room name'),
    ],
)
def test_bad_frames_raise_frame_error_saying_why(frame: str, message: str) -> None:
    with pytest.raises(FrameError) as error:
        decode_frame(frame)
    assert message in str(error.value)


def test_batches_cut_a_long_run_into_json_payloads_within_the_limit_keeping_every_event_in_order() -> None:
    texts = [
        wire.encode_event(Event(Kind.MESSAGE, nick="ann", text=f"{n} " + "é" * (n * 37 % 500))) for n in range(300)
    ]
    payloads = wire.batches(texts, 4096)
    assert len(payloads) > 1
    assert all(len(payload) <= 4096 for payload in payloads)
    decoded = [json.loads(payload) for payload in payloads]
    events = [event for item in decoded for event in (item if isinstance(item, list) else [item])]
    assert [event["text"].split()[0] for event in events] == [str(n) for n in range(300)]
    assert wire.batches(texts[:3], 4096) == [wire.batch(texts[:3]).encode()]  # what fits stays one payload

"""Events and members as Redis records: what one process writes, another reads back intact."""

from __future__ import annotations

import pytest

from app.bus.records import RecordError, event_record, member_record, read_entry, read_event, read_member
from app.domain.events import Event, Gateway, Kind
from app.domain.room import RemoteMember

EVENTS = [
    Event(Kind.MESSAGE, nick="alice", text='héllo — "quoted" \n and {braces}', origin=3, process="12-ab"),
    Event(Kind.ACTION, nick="bob", text="waves", origin=1, process="p"),
    Event(Kind.JOIN, nick="carol", gateway=Gateway.TELNET, origin=9, process="p"),
    Event(Kind.LEAVE, nick="carol", text="connection lost", gateway=Gateway.WEB, origin=9, process="p"),
    Event(Kind.NICK, nick="dave", old="guest1234", gateway=Gateway.WEB, origin=2, process="p"),
    Event(Kind.PRIVATE, nick="erin", to="frank", text="psst", origin=5, process="q"),
]


@pytest.mark.parametrize("event", EVENTS, ids=[e.kind.value for e in EVENTS])
def test_an_event_survives_the_round_trip(event: Event) -> None:
    assert read_event(event_record(event)) == event


def test_a_stream_entry_gives_the_id_and_the_time() -> None:
    event = read_entry("42-0", {"e": event_record(EVENTS[0]), "ts": "1764165785.123456"})
    assert (event.id, event.ts) == (42, 1764165785.123456)
    assert event.text == EVENTS[0].text


def test_records_leave_out_empty_fields() -> None:
    assert event_record(Event(Kind.MESSAGE, nick="a", text="b")) == '{"kind":"message","nick":"a","text":"b"}'


def test_a_member_survives_the_round_trip() -> None:
    record = member_record("alice", Gateway.TELNET, "12-ab", 7)
    assert read_member(record) == RemoteMember("alice", Gateway.TELNET, "12-ab", 7)


@pytest.mark.parametrize(
    "record", ["", "not json", "[]", '{"nick": "x"}', '{"kind": "bogus"}', '{"kind": "message", "origin": "x"}']
)
def test_an_unreadable_event_record_is_a_record_error(record: str) -> None:
    with pytest.raises(RecordError):
        read_event(record)


@pytest.mark.parametrize("entry", [("x-0", {"e": "{}", "ts": "1"}), ("1-0", {"e": '{"kind":"message"}'})])
def test_an_unreadable_stream_entry_is_a_record_error(entry: tuple[str, dict[str, str]]) -> None:
    with pytest.raises(RecordError):
        read_entry(*entry)


@pytest.mark.parametrize("record", ["{}", '{"nick":"a","gateway":"fax","proc":"p","conn":1}', "nope"])
def test_an_unreadable_member_is_a_record_error(record: str) -> None:
    with pytest.raises(RecordError):
        read_member(record)

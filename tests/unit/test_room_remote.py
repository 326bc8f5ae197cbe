"""The room's replica of members on other processes: presence, nick uniqueness, /msg, refusals."""

from __future__ import annotations

import random

from app.domain.events import Event, Forward, Gateway, Kind, Publish, Tell
from app.domain.room import RemoteMember, Room


def room_with_alice() -> Room:
    room = Room(rng=random.Random(1))
    room.join(1, Gateway.TELNET, "alice")
    return room


def remote_join(room: Room, nick: str, conn: int = 5, process: str = "other") -> None:
    room.track_remote(Event(Kind.JOIN, nick=nick, gateway=Gateway.WEB, origin=conn, process=process, id=1))


def errors(outcomes: list) -> list[str]:
    return [o.event.text for o in outcomes if isinstance(o, Tell) and o.event.kind is Kind.ERROR]


def test_remote_members_are_listed_and_their_nicks_are_taken() -> None:
    room = room_with_alice()
    remote_join(room, "bob")
    assert [u.nick for u in room.users()] == ["alice", "bob"]
    assert errors(room.handle(1, "/nick BOB")) == ["Nick refused: 'BOB' is already taken"]
    welcome = room.join(2, Gateway.WEB, "bob")
    assert errors(welcome) == ["Nick refused: 'bob' is already taken"]
    assert room.nick_of(2).startswith("guest")


def test_a_remote_rename_and_leave_update_the_replica() -> None:
    room = room_with_alice()
    remote_join(room, "bob")
    room.track_remote(Event(Kind.NICK, nick="robert", old="bob", gateway=Gateway.WEB, origin=5, process="other"))
    assert [u.nick for u in room.users()] == ["alice", "robert"]
    assert not errors(room.handle(1, "/nick bob")), "the old nick is free again"
    room.track_remote(Event(Kind.LEAVE, nick="robert", gateway=Gateway.WEB, origin=5, process="other"))
    assert [u.nick for u in room.users()] == ["bob"]


def test_a_leave_from_someone_else_does_not_remove_the_holder() -> None:
    room = room_with_alice()
    remote_join(room, "bob", conn=5)
    room.track_remote(Event(Kind.LEAVE, nick="bob", gateway=Gateway.WEB, origin=6, process="other"))
    assert "bob" in [u.nick for u in room.users()]


def test_a_snapshot_replaces_the_replica() -> None:
    room = room_with_alice()
    remote_join(room, "bob")
    room.set_remote([RemoteMember("carol", Gateway.TELNET, "p2", 3)], {"#main": {"carol"}})
    assert [u.nick for u in room.users()] == ["alice", "carol"]


def test_a_private_message_to_a_remote_member_is_forwarded_to_their_process() -> None:
    room = room_with_alice()
    remote_join(room, "bob", conn=5, process="p2")
    outcomes = room.handle(1, "/msg Bob hi there")
    event = Event(Kind.PRIVATE, nick="alice", to="bob", text="hi there", origin=1)
    assert outcomes == [Forward("p2", 5, event), Tell(1, event)]


def test_a_join_refused_by_the_shared_room_falls_back_to_a_guest_nick() -> None:
    room = Room(rng=random.Random(1))
    room.join(1, Gateway.WEB, "alice")
    outcomes = room.refused(Event(Kind.JOIN, nick="alice", gateway=Gateway.WEB, origin=1))
    guest = room.nick_of(1)
    assert guest.startswith("guest")
    assert errors(outcomes) == ["Nick refused: 'alice' is already taken"]
    assert outcomes[1] == Tell(1, Event(Kind.NICK, nick=guest, old="alice", gateway=Gateway.WEB, origin=1))
    assert outcomes[2] == Publish(Event(Kind.JOIN, nick=guest, gateway=Gateway.WEB, origin=1, room="#main"))


def test_a_nick_change_refused_by_the_shared_room_is_undone() -> None:
    room = room_with_alice()
    [publish] = room.handle(1, "/nick bob")
    assert isinstance(publish, Publish)
    outcomes = room.refused(publish.event)
    assert room.nick_of(1) == "alice"
    assert errors(outcomes) == ["Nick refused: 'bob' is already taken"]
    assert not errors(room.handle(1, "/nick bob")), "nothing of the refused nick is left behind"


def test_a_refusal_for_someone_who_already_left_changes_nothing() -> None:
    room = room_with_alice()
    assert room.refused(Event(Kind.JOIN, nick="zed", gateway=Gateway.WEB, origin=99)) == []
    assert [u.nick for u in room.users()] == ["alice"]

"""Rooms in the domain: names, joining and leaving, the current room, limits, topics, /rooms, /who."""

from __future__ import annotations

import random

import pytest
from outcomes import published, told

from app.domain.events import Event, Forget, Gateway, Kind, Outcome, Seat, ShowHistory
from app.domain.room import Room
from app.domain.rooms import MAX_TOPIC, RoomError, RoomLimits, Rooms, room_name

ALICE, BOB, CAROL = 1, 2, 3


def make_room(max_rooms: int = 100, per_client: int = 20) -> Room:
    room = Room(rng=random.Random(7), rooms=Rooms("#main", RoomLimits(max_rooms, per_client)))
    room.join(ALICE, Gateway.WEB, "alice")
    room.join(BOB, Gateway.TELNET, "bob")
    return room


def error_code(outcomes: list[Outcome], member: int) -> str:
    """The one thing that happened is an error told to ``member``: its code."""
    assert len(outcomes) == 1, outcomes
    [event] = told(outcomes, member)
    assert event.kind is Kind.ERROR
    return event.code


@pytest.mark.parametrize(
    ("typed", "name"),
    [("#dev", "#dev"), ("dev", "#dev"), ("#Dev-Ops_2", "#dev-ops_2"), (" #x ", "#x"), ("#" + "a" * 32, "#" + "a" * 32)],
)
def test_room_names_are_case_insensitive_and_spelled_one_way(typed: str, name: str) -> None:
    assert room_name(typed) == name


@pytest.mark.parametrize("typed", ["", "#", "##dev", "#dev ops", "#" + "a" * 33, "#café", "#dev!", "#<b>"])
def test_bad_room_names_are_refused_saying_what_a_name_is(typed: str) -> None:
    with pytest.raises(RoomError, match="not a room name: # and 1 to 32 letters, digits, - or _"):
        room_name(typed)


def test_everyone_starts_in_the_default_room_and_says_lines_there() -> None:
    room = make_room()
    assert room.current(ALICE) == "#main"
    [said] = published(room.handle(ALICE, "hello"))
    assert (said.kind, said.room, said.text) == (Kind.MESSAGE, "#main", "hello")


def test_a_rooms_maker_is_its_connection_and_whoever_takes_its_nick_made_nothing() -> None:
    room = make_room()
    room.handle(ALICE, "/join #den")
    room.handle(ALICE, "/nick alice2")
    room.handle(BOB, "/nick alice")
    room.handle(BOB, "/join #den")
    assert room.rooms.get("#den").made_by == ALICE  # type: ignore[union-attr]


def test_join_enters_the_room_makes_it_current_and_announces_it_there_only() -> None:
    room = make_room()
    outcomes = room.handle(ALICE, "/join #Dev")
    [entered] = published(outcomes)
    assert (entered.kind, entered.room, entered.nick) == (Kind.ENTER, "#dev", "alice")
    [info] = told(outcomes, ALICE)
    assert (info.kind, info.room, [u.nick for u in info.users]) == (Kind.ROOM, "#dev", ["alice"])
    assert Seat(ALICE, replay="#dev") in outcomes, "the new room's history is replayed before its live events"
    assert room.current(ALICE) == "#dev" and room.rooms.of(ALICE) == ["#main", "#dev"]
    assert room.rooms.get("#dev").made_by == ALICE  # type: ignore[union-attr]
    [said] = published(room.handle(ALICE, "in dev"))
    assert said.room == "#dev"


def test_joining_a_room_one_is_in_only_makes_it_current() -> None:
    room = make_room()
    room.handle(ALICE, "/join #dev")
    outcomes = room.handle(ALICE, "/join #main")
    assert published(outcomes) == [], "no second announcement"
    assert Seat(ALICE) in outcomes
    assert room.current(ALICE) == "#main"


def test_a_line_typed_for_a_room_goes_there_whatever_the_current_room() -> None:
    room = make_room()
    room.handle(ALICE, "/join #dev")
    [said] = published(room.handle(ALICE, "meant for main", room="#main"))
    assert said.room == "#main"
    assert error_code(room.handle(ALICE, "lost?", room="#ops"), ALICE) == "not_in_room"
    assert error_code(room.handle(ALICE, "lost?", room="#no such"), ALICE) == "no_such_room"


def test_part_leaves_one_room_and_the_current_room_falls_back() -> None:
    room = make_room()
    room.handle(ALICE, "/join #dev")
    outcomes = room.handle(ALICE, "/part see you")
    [parted] = published(outcomes)
    assert (parted.kind, parted.room, parted.text) == (Kind.PART, "#dev", "see you")
    [info] = told(outcomes, ALICE)
    assert (info.kind, info.room) == (Kind.ROOM, "#main")
    assert room.current(ALICE) == "#main" and Seat(ALICE) in outcomes


def test_part_names_a_room_and_refuses_the_last_one_and_rooms_one_is_not_in() -> None:
    room = make_room()
    room.handle(ALICE, "/join #dev")
    [parted] = published(room.handle(ALICE, "/part #main bye"))
    assert (parted.room, parted.text) == ("#main", "bye")
    assert room.current(ALICE) == "#dev"
    assert error_code(room.handle(ALICE, "/part"), ALICE) == "last_room"
    assert error_code(room.handle(ALICE, "/part #ops"), ALICE) == "not_in_room"
    assert error_code(room.handle(ALICE, "/part #bad!"), ALICE) == "usage"


def test_join_refuses_bad_names_and_beyond_the_per_client_limit() -> None:
    room = make_room(per_client=2)
    assert error_code(room.handle(ALICE, "/join"), ALICE) == "usage"
    assert error_code(room.handle(ALICE, "/join #no!"), ALICE) == "room_refused"
    room.handle(ALICE, "/join #dev")
    outcomes = room.handle(ALICE, "/join #ops")
    assert error_code(outcomes, ALICE) == "room_refused"
    assert "/part one first" in told(outcomes, ALICE)[0].text
    assert room.rooms.of(ALICE) == ["#main", "#dev"]


def test_at_the_room_limit_the_longest_quiet_empty_room_nobody_spoke_in_is_forgotten() -> None:
    room = make_room(max_rooms=3)
    room.handle(ALICE, "/join #old")
    room.handle(ALICE, "/join #newer")
    room.handle(ALICE, "/part #old")
    room.handle(ALICE, "/part #newer")
    outcomes = room.handle(BOB, "/join #fresh")
    assert Forget("#old") in outcomes, "the empty room quiet longest makes space"
    assert "#old" not in room.rooms and "#newer" in room.rooms
    room.handle(BOB, "/join #newer")
    assert error_code(room.handle(ALICE, "/join #more"), ALICE) == "rooms_full", "every room has people in it"


def test_rooms_lists_the_biggest_first_with_topics() -> None:
    room = make_room()
    room.join(CAROL, Gateway.WEB, "carol")
    room.handle(ALICE, "/join #dev")
    room.handle(BOB, "/join #dev")
    room.handle(ALICE, "/topic release on friday")
    room.handle(CAROL, "/join #ops")
    [listing] = told(room.handle(CAROL, "/rooms"), CAROL)
    assert listing.kind is Kind.ROOMS and listing.total == 3
    assert [(r.name, r.members, r.topic) for r in listing.rooms] == [
        ("#main", 3, ""),
        ("#dev", 2, "release on friday"),
        ("#ops", 1, ""),
    ]


def test_topic_is_shown_set_and_bounded() -> None:
    room = make_room()
    [shown] = told(room.handle(ALICE, "/topic"), ALICE)
    assert shown.text == "#main has no topic: /topic TEXT sets one"
    [topic] = published(room.handle(ALICE, "/topic lunch at noon"))
    assert (topic.kind, topic.room, topic.nick, topic.text) == (Kind.TOPIC, "#main", "alice", "lunch at noon")
    [shown] = told(room.handle(BOB, "/topic"), BOB)
    assert shown.text == "Topic of #main: lunch at noon"
    assert error_code(room.handle(ALICE, "/topic " + "x" * (MAX_TOPIC + 1)), ALICE) == "too_long"


def test_who_lists_the_current_room_or_a_named_one() -> None:
    room = make_room()
    room.handle(ALICE, "/join #dev")
    [here] = told(room.handle(ALICE, "/who"), ALICE)
    assert (here.room, [u.nick for u in here.users], here.total) == ("#dev", ["alice"], 1)
    [main] = told(room.handle(ALICE, "/who #MAIN"), ALICE)
    assert (main.room, sorted(u.nick for u in main.users)) == ("#main", ["alice", "bob"])
    assert error_code(room.handle(ALICE, "/who #nobody"), ALICE) == "no_such_room"


def test_history_is_for_the_current_room() -> None:
    room = make_room()
    room.handle(ALICE, "/join #dev")
    assert room.handle(ALICE, "/history 5") == [ShowHistory(ALICE, 5, "#dev")]


def test_a_nick_change_is_one_event_per_room_sharing_the_rooms_it_spans() -> None:
    room = make_room()
    room.handle(ALICE, "/join #dev")
    changes = published(room.handle(ALICE, "/nick ann"))
    assert [(e.kind, e.room, e.old, e.nick) for e in changes] == [
        (Kind.NICK, "#main", "alice", "ann"),
        (Kind.NICK, "#dev", "alice", "ann"),
    ]
    assert {e.spans for e in changes} == {("#main", "#dev")}


def test_leaving_the_server_is_one_leave_per_room() -> None:
    room = make_room()
    room.handle(ALICE, "/join #dev")
    leaves = published(room.leave(ALICE, "gone"))
    assert [(e.kind, e.room, e.text) for e in leaves] == [(Kind.LEAVE, "#main", "gone"), (Kind.LEAVE, "#dev", "gone")]
    assert room.population_of("#dev") == 0 and "#dev" in room.rooms, "an empty room stays, with its history"


def test_joining_with_rooms_puts_the_first_named_last_as_current() -> None:
    room = make_room()
    outcomes = room.join(CAROL, Gateway.WEB, "carol", ["#ops", "bad!", "#dev"])
    assert room.rooms.of(CAROL) == ["#ops", "#dev"]
    [welcome, refused] = told(outcomes, CAROL)
    assert (welcome.kind, welcome.room, [r.name for r in welcome.rooms]) == (Kind.WELCOME, "#dev", ["#ops", "#dev"])
    assert refused.code == "room_refused"
    assert [(e.kind, e.room) for e in published(outcomes)] == [(Kind.JOIN, "#ops"), (Kind.JOIN, "#dev")]


def test_other_processes_members_are_tracked_per_room() -> None:
    room = make_room()
    remote = {"gateway": Gateway.WEB, "origin": 9, "process": "p2"}
    room.track_remote(Event(Kind.JOIN, nick="zed", room="#main", **remote))  # type: ignore[arg-type]
    room.track_remote(Event(Kind.ENTER, nick="zed", room="#dev", **remote))  # type: ignore[arg-type]
    assert room.population_of("#dev") == 1
    room.track_remote(Event(Kind.TOPIC, nick="zed", room="#dev", text="shared", process="p2"))
    assert room.rooms.get("#dev").topic == "shared"  # type: ignore[union-attr]
    room.track_remote(Event(Kind.PART, nick="zed", room="#dev", **remote))  # type: ignore[arg-type]
    assert room.population_of("#dev") == 0 and room.population_of("#main") == 3
    spans = ("#main",)
    room.track_remote(Event(Kind.LEAVE, nick="zed", room="#main", spans=spans, **remote))  # type: ignore[arg-type]
    assert room.population_of("#main") == 2
    assert error_code(room.handle(ALICE, "/msg zed hi"), ALICE) == "no_such_nick"

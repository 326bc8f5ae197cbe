"""Rooms as a budgeted resource: which empty room a new one may replace, and when none may; the
rooms one address may make; what making them costs a connection and an address (injected clocks)."""

from __future__ import annotations

import random

import pytest
from outcomes import told

from app.domain.events import Forget, Gateway, Kind
from app.domain.flood import Allowance, AllowancePolicy
from app.domain.room import Room
from app.domain.rooms import DAY, Maker, RoomError, RoomLimits, Rooms, Voice

LIMITS = RoomLimits(max_rooms=4, per_client=20, per_maker=3, expiry=30 * DAY, guest_expiry=DAY)


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def rooms_with(clock: Clock, limits: RoomLimits = LIMITS) -> Rooms:
    return Rooms("#main", limits, clock)


def visit(rooms: Rooms, name: str, member: int, maker: Maker | None = None, speak: bool = False) -> None:
    """A member makes (or enters) a room, perhaps says something there, and leaves it empty."""
    rooms.enter(member, name, maker or Maker(session=member))
    if speak:
        rooms.spoke(name, member)
    rooms.exit(member, name)


def arrive(rooms: Rooms, name: str, member: int = 99) -> str | None:
    """A stranger makes a room and stays in it: the room it replaced."""
    return rooms.enter(member, name, Maker(session=member))[1]


def refusal(rooms: Rooms, name: str, maker: Maker | None = None) -> str:
    with pytest.raises(RoomError) as refused:
        rooms.make(name, maker)
    return refused.value.code


def test_rooms_nobody_spoke_in_are_freed_first_even_if_more_recent() -> None:
    clock = Clock()
    rooms = rooms_with(clock)
    visit(rooms, "#talked", 1, speak=True)
    clock.now += 40 * DAY  # #talked has expired, but a silent room goes first
    visit(rooms, "#silent", 2)
    visit(rooms, "#also-talked", 3, Maker(session=None), speak=True)
    assert arrive(rooms, "#new") == "#silent"
    assert arrive(rooms, "#newer") == "#talked", "then the quietest room whose history expired"
    assert "#also-talked" in rooms


def test_a_room_with_history_is_kept_until_it_has_been_quiet_for_the_expiry() -> None:
    clock = Clock()
    rooms = rooms_with(clock)
    for name in ("#a", "#b", "#c"):
        visit(rooms, name, 9, Maker(session=None), speak=True)  # a registered maker: kept for the full expiry
    clock.now += 29 * DAY
    assert refusal(rooms, "#stranger") == "rooms_full"
    assert all(name in rooms for name in ("#a", "#b", "#c"))
    clock.now += 1 * DAY
    _, forgotten = rooms.make("#stranger")
    assert forgotten == "#a"


def test_activity_resets_the_expiry_and_occupied_rooms_are_never_replaced() -> None:
    clock = Clock()
    rooms = rooms_with(clock)
    visit(rooms, "#a", 1, Maker(session=None), speak=True)
    rooms.enter(2, "#busy", Maker(session=2))  # stays occupied
    visit(rooms, "#c", 3, Maker(session=None), speak=True)
    clock.now += 29 * DAY
    rooms.spoke("#a")  # another process's member spoke there
    clock.now += 2 * DAY
    assert arrive(rooms, "#stranger") == "#c"
    clock.now += 100 * DAY
    assert arrive(rooms, "#next") == "#a"
    assert "#busy" in rooms and "#main" in rooms


def test_a_room_only_its_guest_maker_spoke_in_expires_after_a_day() -> None:
    clock = Clock()
    rooms = rooms_with(clock)
    visit(rooms, "#mine", 1, Maker(session=1), speak=True)
    rooms.enter(2, "#shared", Maker(session=2))
    rooms.spoke("#shared", 2)
    rooms.enter(3, "#shared", Maker(session=3))
    rooms.spoke("#shared", 3)  # someone else spoke: it is worth the full expiry
    rooms.exit(2, "#shared")
    rooms.exit(3, "#shared")
    visit(rooms, "#other", 4, Maker(session=None), speak=True)
    clock.now += DAY - 1
    assert refusal(rooms, "#stranger") == "rooms_full"
    clock.now += 1
    assert arrive(rooms, "#stranger") == "#mine"
    clock.now += DAY
    assert refusal(rooms, "#later") == "rooms_full", "#shared and #other keep their history for 30 days"


def test_rooms_made_per_address_are_capped_and_its_own_silent_rooms_make_way() -> None:
    clock = Clock()
    rooms = rooms_with(clock, RoomLimits(max_rooms=100, per_maker=2))
    address = Maker("203.0.113.7", session=1)
    visit(rooms, "#one", 1, address, speak=True)
    visit(rooms, "#two", 1, address)
    rooms.enter(1, "#two", address)
    rooms.spoke("#two", 1)
    assert refusal(rooms, "#three", address) == "rooms_made"
    _, forgotten = rooms.make("#three", Maker("198.51.100.1", session=2))
    assert forgotten is None, "another address makes its own"
    rooms.exit(1, "#two")
    assert refusal(rooms, "#four", address) == "rooms_made", "empty rooms with history count until they expire"
    clock.now += DAY
    _, forgotten = rooms.make("#four", address)
    assert forgotten == "#one", "its own room, expired, makes way"
    visit(rooms, "#silent", 3, Maker("192.0.2.9", session=3))
    visit(rooms, "#said", 3, Maker("192.0.2.9", session=3), speak=True)
    _, forgotten = rooms.make("#instead", Maker("192.0.2.9", session=3))
    assert forgotten == "#silent", "an address at its cap replaces its own room nobody spoke in"


def test_a_refused_room_costs_nothing_and_the_budget_is_spent_only_on_rooms_made() -> None:
    clock = Clock()
    rooms = rooms_with(clock, RoomLimits(max_rooms=2))
    rooms.enter(1, "#busy", Maker(session=1))
    spent: list[str] = []
    maker = Maker(session=2, afford=lambda: spent.append("room") is None)
    assert refusal(rooms, "#full", maker) == "rooms_full"
    assert spent == []
    rooms.enter(2, "#busy", maker)
    assert spent == [], "entering a room that exists costs nothing"
    broke = Maker(session=2, afford=lambda: False)
    rooms.exit(1, "#busy")
    rooms.exit(2, "#busy")
    assert refusal(rooms, "#new", broke) == "room_rate"
    assert "#busy" in rooms, "a refused room replaces nothing"


def test_the_allowance_is_per_connection_and_per_address_and_survives_reconnecting() -> None:
    clock = Clock()
    allowance = Allowance(AllowancePolicy(burst=3, rate=0.5))
    assert all(allowance.take(1, "203.0.113.7", clock.now) for _ in range(3))
    assert not allowance.take(1, "203.0.113.7", clock.now), "the connection's budget is spent"
    assert not allowance.take(2, "203.0.113.7", clock.now), "so is its address's, for a second connection"
    allowance.close(1)
    allowance.close(2)
    assert not allowance.take(3, "203.0.113.7", clock.now), "reconnecting does not refill the address"
    assert allowance.take(4, "198.51.100.1", clock.now), "another address has its own"
    assert allowance.take(5, None, clock.now) and allowance.take(5, None, clock.now), "exempt: only its connection"
    clock.now += 2
    assert allowance.take(3, "203.0.113.7", clock.now), "a token back after 2 s at 0.5 a second"
    assert not allowance.take(3, "203.0.113.7", clock.now)


def test_an_allowance_not_in_debt_pays_for_any_one_cost_then_waits_out_the_debt() -> None:
    clock = Clock()
    allowance = Allowance(AllowancePolicy(burst=100, rate=10))
    assert not allowance.spent("a", clock.now)
    assert allowance.take(None, "a", clock.now, 250), "a single large replay is allowed"
    assert allowance.spent("a", clock.now) and not allowance.spent("b", clock.now)
    clock.now += 10
    assert not allowance.take(None, "a", clock.now, 50), "50 in debt still"
    assert allowance.take(None, "a", clock.now, 0), "nothing costs nothing, even in debt"
    clock.now += 10
    assert not allowance.spent("a", clock.now)
    assert allowance.take(None, "a", clock.now, 50)
    assert Allowance(AllowancePolicy(burst=1, rate=0)).take(1, "a", clock.now, 10**9), "rate 0: no limit"


def test_join_and_url_rooms_pay_from_the_members_budget_with_a_clear_code() -> None:
    clock = Clock()
    allowance = Allowance(AllowancePolicy(burst=2, rate=1 / 60))
    room = Room(rng=random.Random(7), rooms=Rooms("#main", RoomLimits(max_rooms=100), clock))
    address = "203.0.113.7"
    room.maker_of = lambda member: Maker(address, member, lambda: allowance.take(member, address, clock.now))
    outcomes = room.join(1, Gateway.WEB, "eve", rooms=("#a", "#b", "#c"))
    [error] = [event for event in told(outcomes, 1) if event.kind is Kind.ERROR]
    assert error.code == "room_rate" and "too fast" in error.text
    assert room.rooms.of(1) == ["#a", "#b"]
    [error] = told(room.handle(1, "/join #d"), 1)
    assert error.code == "room_rate"
    room.handle(1, "/join #main")
    assert "#main" in room.rooms.of(1), "an existing room is free"
    clock.now += 60
    outcomes = room.handle(1, "/join #d")
    assert "#d" in room.rooms.of(1) and not any(isinstance(o, Forget) for o in outcomes)


def test_rooms_restored_at_start_up_keep_their_voice_and_last_activity() -> None:
    clock = Clock()
    rooms = rooms_with(clock, RoomLimits(max_rooms=4))
    rooms.restore("#old-talk", Voice.PEOPLE, clock.now - 31 * DAY)
    rooms.restore("#recent-talk", Voice.PEOPLE, clock.now - DAY)
    rooms.restore("#joins-only", Voice.SILENT, clock.now)
    assert arrive(rooms, "#a") == "#joins-only"
    assert arrive(rooms, "#b") == "#old-talk", "its history expired while the server was down"
    with pytest.raises(RoomError):
        rooms.restore("#more", Voice.PEOPLE, clock.now)  # the limit holds at start-up too
    assert "#recent-talk" in rooms

"""Churn: presence notices one by one while calm, one summary per window under a storm."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
from hubfakes import Clock, FakeClient, JsonCodec, LineCodec, join, make_hub

from app.domain.churn import SAMPLE, ChurnGate
from app.domain.events import Event, Gateway, Kind, User
from app.domain.room import USERS_LISTED, Room
from app.hub.core import Admission, Hub


def joined(nick: str, gateway: Gateway = Gateway.WEB) -> Event:
    return Event(Kind.JOIN, nick=nick, gateway=gateway)


def left(nick: str, gateway: Gateway = Gateway.WEB) -> Event:
    return Event(Kind.LEAVE, nick=nick, gateway=gateway)


def test_calm_notices_pass_and_the_window_resets() -> None:
    gate = ChurnGate(calm=3, window=1.0)
    assert [gate.admit(0.0) for _ in range(5)] == [True, True, True, False, False]
    assert gate.admit(0.99) is False
    assert gate.admit(1.0) is True


def test_summary_keeps_the_net_change_per_nick_and_counts() -> None:
    gate = ChurnGate()
    for event in (joined("ann"), joined("bob", Gateway.TELNET), left("cat"), left("bob", Gateway.TELNET)):
        gate.fold(event)
    gate.fold(joined("Cat"))  # left and came back (nicks compare without case)
    summary = gate.summary(total=42)
    assert summary is not None
    assert summary.kind is Kind.PRESENCE
    assert summary.users == (User("ann", Gateway.WEB), User("Cat", Gateway.WEB))
    assert summary.left == (User("bob", Gateway.TELNET),)
    assert summary.text == "2 joined, 1 left — 42 here now"
    assert gate.summary(total=42) is None, "a summary is sent once"


def test_summary_past_what_it_can_name_gives_the_counts_and_a_sample_of_who_is_here() -> None:
    gate = ChurnGate(listed=3)
    for i in range(10):
        gate.fold(joined(f"user{i}"))
    gate.fold(left("old"))
    here = tuple(User(f"user{i}", Gateway.WEB) for i in range(5))
    summary = gate.summary(total=12, sample=here)
    assert summary is not None
    assert summary.code == SAMPLE, "a list kept from notices must start again from the sample"
    assert summary.users == here[:3]
    assert summary.left == ()
    assert summary.text == "10 joined, 1 left — 12 here now"


def test_the_bigger_the_room_the_fewer_notices_go_out_one_by_one() -> None:
    gate = ChurnGate(calm=10, crowd=100)
    assert [gate.allowance(n) for n in (1, 100, 200, 1000, 1001, 10_000)] == [10, 10, 5, 1, 1, 1]


def test_a_window_that_started_folding_folds_to_its_end_even_as_the_room_shrinks() -> None:
    gate = ChurnGate(calm=10, crowd=100, window=1.0)
    assert gate.admit(0.0, population=1000) is True
    assert gate.admit(0.1, population=1000) is False
    assert gate.admit(0.2, population=5) is False, "a notice announced now would overtake the folded ones"
    assert gate.admit(1.0, population=5) is True


def test_a_join_storm_reaches_clients_as_one_summary_and_presence_stays_exact() -> None:
    scheduled: list[tuple[float, object]] = []
    clock = Clock()
    hub = make_hub(clock=clock, churn=ChurnGate(calm=2, window=1.0), later=lambda d, f: scheduled.append((d, f)))
    web, tcp = JsonCodec(), LineCodec()
    watcher = join(hub, web, "watcher")
    terminal = join(hub, tcp, "terminal")
    watcher.clear()
    terminal.clear()
    clock.now = 5.0
    crowd = [join(hub, web, f"crowd{i}") for i in range(6)]
    crowd[0].hub.disconnect(crowd[0])

    assert [f["nick"] for f in watcher.frames() if f["type"] == "join"] == ["crowd0", "crowd1"]
    assert len(scheduled) == 1, "one summary is scheduled for the window"
    delay, send_summary = scheduled[0]
    assert delay == 1.0
    send_summary()  # type: ignore[operator]
    [summary] = [f for f in watcher.frames() if f["type"] == "presence"]
    assert [u["nick"] for u in summary["users"]] == ["crowd2", "crowd3", "crowd4", "crowd5"]
    assert [u["nick"] for u in summary["left"]] == ["crowd0"]
    assert summary["total"] == 7
    assert "* 4 joined, 1 left — 7 here now\r\n" in terminal.text()
    assert len(hub.room) == 7
    assert {u.nick for u in hub.room.users()} == {"watcher", "terminal", *(f"crowd{i}" for i in range(1, 6))}


def test_welcome_and_who_list_a_sample_of_a_big_room_with_the_total() -> None:
    room = Room()
    for i in range(USERS_LISTED + 50):
        room.join(i, Gateway.TELNET, f"user{i}")
    [welcome, _] = room.join(9999, Gateway.WEB, "newcomer")
    event = welcome.event  # type: ignore[union-attr]
    assert len(event.users) == USERS_LISTED
    assert event.users[-1] == User("newcomer", Gateway.WEB), "the newcomer is always listed"
    assert event.total == USERS_LISTED + 51
    [who] = room.handle(0, "/who")
    assert len(who.event.users) == USERS_LISTED  # type: ignore[union-attr]
    assert who.event.total == USERS_LISTED + 51  # type: ignore[union-attr]


class PeopleList:
    """The page's "Here now" list, kept from the frames as static/js/users.js keeps it."""

    def __init__(self) -> None:
        self.nicks: set[str] = set()

    def read(self, frames: list[dict]) -> None:  # type: ignore[type-arg]
        for frame in frames:
            kind = frame["type"]
            if kind == "welcome" or (kind == "presence" and frame.get("code") == SAMPLE):
                self.nicks = {u["nick"] for u in frame["users"]}
            elif kind == "presence":
                self.nicks |= {u["nick"] for u in frame["users"]}
                self.nicks -= {u["nick"] for u in frame["left"]}
            elif kind == "join":
                self.nicks.add(frame["nick"])
            elif kind == "leave":
                self.nicks.discard(frame["nick"])
            elif kind == "nick":
                self.nicks = (self.nicks - {frame["old"]}) | {frame["nick"]}


def crowded_hub(listed: int = 100) -> tuple[Hub, Clock, list[Callable[[], None]]]:
    """A hub whose rooms count as crowded from 5 people, with its summaries sent by hand."""
    clock, summaries = Clock(), []
    gate = ChurnGate(calm=10, window=1.0, listed=listed, crowd=5)
    hub = make_hub(None, Admission(max_per_address=1000), clock, gate, lambda delay, send: summaries.append(send))
    return hub, clock, summaries


def settle(summaries: list[Callable[[], None]]) -> None:
    """The summaries due so far go out (their window ends)."""
    while summaries:
        summaries.pop(0)()


def test_a_big_room_gets_two_presence_frames_a_window_whatever_the_arrivals() -> None:
    hub, clock, summaries = crowded_hub()
    web = JsonCodec()
    watcher = join(hub, web, "watcher")
    people = PeopleList()
    present = [join(hub, web, f"early{i}") for i in range(40)]
    settle(summaries)
    clock.now = 10.0
    people.read(watcher.frames())
    watcher.clear()

    arrivals = [join(hub, web, f"crowd{i}") for i in range(60)]
    for client in present[:20]:
        hub.disconnect(client)
    hub.disconnect(arrivals[0])  # came and went within the window
    frames = watcher.frames()
    assert [(f["type"], f.get("nick")) for f in frames] == [("join", "crowd0")], "only the window's first, by name"
    [send] = summaries
    send()
    [summary] = watcher.frames()[1:]
    assert summary["type"] == "presence"
    assert summary["text"] == "59 joined, 21 left — 80 here now"
    people.read(watcher.frames())
    assert people.nicks == {u.nick for u in hub.room.users()}, "the list kept from the frames is exact"
    assert len(people.nicks) == 80


def test_past_what_a_summary_can_name_the_list_starts_again_from_a_sample_with_the_total() -> None:
    hub, _, summaries = crowded_hub(listed=10)
    web = JsonCodec()
    watcher = join(hub, web, "watcher")
    for i in range(30):
        join(hub, web, f"crowd{i}")
    summaries[0]()
    [summary] = [f for f in watcher.frames() if f["type"] == "presence"]
    assert summary["code"] == SAMPLE
    assert summary["total"] == 31
    listed = {u["nick"] for u in summary["users"]}
    assert len(listed) == 10 and listed <= {u.nick for u in hub.room.users()}


def watched_room(members: int) -> tuple[Hub, Clock, list[Callable[[], None]], FakeClient]:
    """A crowded hub with a watcher and ``members`` others in its room, all announced; then quiet."""
    hub, clock, summaries = crowded_hub()
    watcher = join(hub, JsonCodec(), "watcher")
    for i in range(members):
        join(hub, watcher.codec, f"crowd{i}")
    settle(summaries)
    clock.now = 10.0
    watcher.clear()
    return hub, clock, summaries, watcher


def test_a_folded_arrival_is_summarised_before_anything_else_is_shown_of_the_room() -> None:
    hub, _, summaries, watcher = watched_room(60)
    newcomers = [join(hub, watcher.codec, f"new{i}") for i in range(3)]
    hub.receive(newcomers[2], "/nick renamed")
    hub.receive(newcomers[2], "hello")
    frames = [f for f in watcher.frames() if f["type"] != "users"]
    assert [f["type"] for f in frames] == ["join", "presence", "nick", "message"]
    assert [u["nick"] for u in frames[1]["users"]] == ["new1", "new2"]
    settle(summaries)
    assert [f["type"] for f in watcher.frames()] == [f["type"] for f in frames], "nothing is summarised twice"


def test_a_lone_join_in_the_next_window_is_announced_by_name_at_once() -> None:
    hub, _, _, watcher = watched_room(20)
    join(hub, watcher.codec, "latecomer")
    [frame] = watcher.frames()
    assert (frame["type"], frame["nick"]) == ("join", "latecomer")


def test_the_log_names_a_few_joins_a_window_and_counts_the_rest(caplog: pytest.LogCaptureFixture) -> None:
    hub, _, summaries = crowded_hub()
    web = JsonCodec()
    with caplog.at_level(logging.INFO, logger="app.chat"):
        for i in range(50):
            join(hub, web, f"crowd{i}")
        settle(summaries)
    lines = [record.getMessage() for record in caplog.records if record.name == "app.chat"]
    assert [line for line in lines if " join " in line] == [f"#{i + 1} #main join crowd{i} (web)" for i in range(10)]
    assert lines[10:] == ["joins and leaves not logged one by one: 40 joined — 50 here now"]

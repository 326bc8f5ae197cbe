"""Churn: presence notices one by one while calm, one summary per window under a storm."""

from __future__ import annotations

from hubfakes import Clock, JsonCodec, LineCodec, join, make_hub

from app.domain.churn import ChurnGate
from app.domain.events import Event, Gateway, Kind, User
from app.domain.room import USERS_LISTED, Room


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


def test_summary_lists_a_sample_but_counts_everyone() -> None:
    gate = ChurnGate(listed=3)
    for i in range(10):
        gate.fold(joined(f"user{i}"))
    summary = gate.summary(total=10)
    assert summary is not None
    assert len(summary.users) == 3
    assert summary.text.startswith("10 joined")


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

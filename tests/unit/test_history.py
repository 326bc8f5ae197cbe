"""The history windows: bounds, order, gaps, presence kept apart from the conversation, losses."""

from __future__ import annotations

from dataclasses import replace

from app.bus.history import Gap, History, Loss
from app.domain.events import Event, Gateway, Kind


def message(id: int, text: str = "") -> Event:
    return Event(Kind.MESSAGE, nick="ann", text=text or f"m{id}", id=id, ts=1_700_000_000.0 + id)


def join(id: int) -> Event:
    return Event(Kind.JOIN, nick=f"guest{id}", id=id, ts=1_700_000_000.0 + id, gateway=Gateway.TELNET)


def filled(capacity: int, count: int) -> History:
    history = History(capacity)
    for i in range(1, count + 1):
        history.append(message(i))
    return history


def test_keeps_only_the_newest_events_in_order() -> None:
    history = filled(5, 12)
    assert [e.id for e in history.recent(100)] == [8, 9, 10, 11, 12]
    assert [e.id for e in history.recent(2)] == [11, 12]
    assert history.recent(0) == []
    assert history.last_id == 12


def test_after_returns_exactly_the_newer_events() -> None:
    history = filled(10, 10)
    assert history.after(7) == (Gap(), [message(8), message(9), message(10)])
    assert history.after(10) == (Gap(), [])
    assert history.after(99) == (Gap(), [])


def test_after_counts_what_fell_out_of_the_window() -> None:
    history = filled(5, 20)  # keeps 16..20
    gap, events = history.after(3)
    assert gap == Gap(evicted=12)  # ids 4..15
    assert [e.id for e in events] == [16, 17, 18, 19, 20]
    assert history.after(15) == (Gap(), [message(i) for i in range(16, 21)])


def test_empty_history() -> None:
    history = History(5)
    assert history.last_id == 0
    assert history.after(0) == (Gap(), [])
    assert history.recent(3) == []


def test_churn_never_pushes_messages_out() -> None:
    history = History(capacity=5, presence=3)
    for i in range(1, 6):
        history.append(message(i))
    for i in range(6, 1006):  # a storm of a thousand joins
        history.append(join(i))
    history.append(message(1006))
    assert (history.messages, history.presence) == (5, 3)
    gap, events = history.after(3)
    assert [e.id for e in events] == [4, 5, 1003, 1004, 1005, 1006], "every message said after 3, and recent presence"
    assert not gap, "presence notices that fell out are not a gap in the conversation"
    assert [e.id for e in history.recent(5)] == [2, 3, 4, 5, 1006], "a newcomer sees the conversation"


def test_a_quiet_room_replays_presence_too() -> None:
    history = History(capacity=10, presence=10)
    history.append(join(1))
    history.append(message(2))
    history.append(join(3))
    assert [e.id for e in history.recent(10)] == [1, 2, 3]
    assert [e.id for e in history.recent(2)] == [2, 3]


def test_a_gap_counts_evicted_messages_but_not_kept_presence() -> None:
    history = History(capacity=2, presence=5)
    history.append(message(1))
    history.append(join(2))
    history.append(message(3))
    history.append(message(4))  # message 1 falls out
    history.append(message(5))  # message 3 falls out
    gap, events = history.after(0)
    assert gap == Gap(evicted=2)  # messages 1 and 3; the join (2) is still kept
    assert [e.id for e in events] == [2, 4, 5]


def test_ids_lost_in_a_crash_are_told_to_whoever_resumes_from_before_them() -> None:
    history = History(capacity=10)
    history.restore([message(1), message(2)], [Loss(3, 40)])
    assert history.last_id == 40, "the next id is above every id that may have been handed out"
    assert history.after(2) == (Gap(lost=38), [])
    assert history.after(30) == (Gap(lost=10), [])
    history.append(message(41))
    assert history.after(40) == (Gap(), [message(41)])
    gap, events = history.after(1)
    assert gap == Gap(lost=38) and gap.missed == 38
    assert events == [message(2), message(41)]


def test_a_resume_from_before_what_a_store_put_back_is_told_of_a_gap() -> None:
    history = History(capacity=3, presence=3)
    history.restore([join(7), message(8), message(9)])
    assert history.after(7) == (Gap(), [message(8), message(9)])
    assert history.after(2) == (Gap(evicted=4), [join(7), message(8), message(9)])  # ids 3..6
    fresh = History(capacity=3)
    fresh.restore([message(1), message(2)])
    assert fresh.after(0) == (Gap(), [message(1), message(2)])


def in_room(event: Event, room: str) -> Event:
    return replace(event, room=room)


def test_each_room_keeps_its_own_window_and_counts_only_its_own_gap() -> None:
    history = History(capacity=10, room_capacity=3)
    for i in range(1, 21):  # odd ids in #main, even ids in #dev
        history.append(in_room(message(i), "#main" if i % 2 else "#dev"))
    assert [e.id for e in history.recent(100, "#dev")] == [16, 18, 20], "a busy room's window is its own"
    assert [e.id for e in history.recent(3, "#main")] == [15, 17, 19]
    gap, events = history.after(10, "#dev")
    assert gap == Gap(evicted=2) and [e.id for e in events] == [16, 18, 20]  # 12 and 14: #dev's own
    assert history.after(14, "#dev") == (Gap(), [in_room(message(i), "#dev") for i in (16, 18, 20)])
    assert history.after(13, "#main")[0] == Gap(), "#main keeps ten: nothing after 13 was lost"
    assert history.messages == 13


def test_a_forgotten_room_has_no_history_left() -> None:
    history = History()
    history.append(in_room(message(1), "#old"))
    history.append(in_room(message(2), "#main"))
    assert history.rooms() == ["#old", "#main"]
    history.forget("#old")
    assert history.recent(10, "#old") == [] and history.rooms() == ["#main"]

"""The history window and its SQLite store: bounds, order, gaps, and a persistence round trip."""

from __future__ import annotations

from pathlib import Path

from app.bus.history import History, SqliteStore
from app.domain.events import Event, Gateway, Kind


def message(id: int, text: str = "") -> Event:
    return Event(Kind.MESSAGE, nick="ann", text=text or f"m{id}", id=id, ts=1_700_000_000.0 + id)


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
    assert history.after(7) == (0, [message(8), message(9), message(10)])
    assert history.after(10) == (0, [])
    assert history.after(99) == (0, [])


def test_after_counts_what_fell_out_of_the_window() -> None:
    history = filled(5, 20)  # keeps 16..20
    missed, events = history.after(3)
    assert missed == 12  # ids 4..15
    assert [e.id for e in events] == [16, 17, 18, 19, 20]
    assert history.after(15) == (0, [message(i) for i in range(16, 21)])


def test_empty_history() -> None:
    history = History(5)
    assert history.last_id == 0
    assert history.after(0) == (0, [])
    assert history.recent(3) == []


def test_sqlite_round_trip_keeps_every_field(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    events = [
        message(1, "héllo 👋"),
        Event(Kind.JOIN, nick="bob", id=2, ts=5.5, gateway=Gateway.TELNET),
        Event(Kind.NICK, nick="bobby", old="bob", id=3, ts=6.0, gateway=Gateway.TELNET),
        Event(Kind.ACTION, nick="bobby", text="waves", id=4, ts=7.0),
        Event(Kind.LEAVE, nick="bobby", text="bye", id=5, ts=8.0, gateway=Gateway.WEB),
    ]
    store = SqliteStore(path, capacity=100)
    assert store.load() == []
    store.start()
    for event in events:
        store.append(event)
    store.close()
    assert store.persisted_id == 5

    reopened = SqliteStore(path, capacity=100)
    assert reopened.load() == events
    assert reopened.persisted_id == 5


def test_sqlite_store_is_bounded(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "chat.db", capacity=10)
    store.load()
    store.start()
    for i in range(1, 101):
        store.append(message(i))
    store.close()
    loaded = SqliteStore(tmp_path / "chat.db", capacity=10).load()
    assert [e.id for e in loaded] == list(range(91, 101))
    larger_window = SqliteStore(tmp_path / "chat.db", capacity=50).load()
    assert [e.id for e in larger_window] == list(range(91, 101)), "old rows are deleted, not just hidden"

"""Recent public events: a bounded in-memory window, optionally persisted to SQLite.

The window answers every read (join replay, ``since=`` resume, ``/history``) without touching
the disk. Persistence runs on its own thread, which commits whatever has queued up in one
transaction, so the event loop never waits for SQLite; a crash loses at most the events still
in that queue.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
from collections import deque
from pathlib import Path

from app.domain.events import Event, Gateway, Kind

log = logging.getLogger("app.history")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    nick TEXT NOT NULL,
    text TEXT NOT NULL,
    old TEXT NOT NULL,
    gateway TEXT
)
"""
_COLUMNS = "id, ts, kind, nick, text, old, gateway"
_INSERT = f"INSERT OR REPLACE INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)"


class History:
    """The last ``capacity`` public events, in id order."""

    def __init__(self, capacity: int = 500) -> None:
        self.capacity = capacity
        self._events: deque[Event] = deque(maxlen=capacity)

    def __len__(self) -> int:
        return len(self._events)

    @property
    def last_id(self) -> int:
        return self._events[-1].id if self._events else 0

    def append(self, event: Event) -> None:
        self._events.append(event)

    def recent(self, limit: int) -> list[Event]:
        """The last ``limit`` events, oldest first."""
        if limit <= 0:
            return []
        events = self._events
        return list(events)[-limit:] if limit < len(events) else list(events)

    def after(self, since: int) -> tuple[int, list[Event]]:
        """Events with an id above ``since``, and how many of those are no longer kept."""
        events = self._events
        if not events or since >= events[-1].id:
            return 0, []
        return max(0, events[0].id - since - 1), [e for e in events if e.id > since]


class SqliteStore:
    """Appends events to a SQLite file from a writer thread, keeping about ``capacity`` rows."""

    def __init__(self, path: str | Path, capacity: int) -> None:
        self.path = str(path)
        self.capacity = capacity
        self._queue: queue.SimpleQueue[Event | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self.persisted_id = 0

    def load(self) -> list[Event]:
        """Create the table if needed and read back the newest ``capacity`` events."""
        with contextlib.closing(_connect(self.path)) as db:
            db.execute(_SCHEMA)
            rows = db.execute(f"SELECT {_COLUMNS} FROM events ORDER BY id DESC LIMIT ?", (self.capacity,)).fetchall()
        events = [_from_row(row) for row in reversed(rows)]
        self.persisted_id = events[-1].id if events else 0
        return events

    def start(self) -> None:
        self._thread = threading.Thread(target=self._write_forever, name="history-writer", daemon=True)
        self._thread.start()

    def append(self, event: Event) -> None:
        self._queue.put(event)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued and stop the writer."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def _write_forever(self) -> None:
        with contextlib.closing(_connect(self.path)) as db:
            while True:
                batch = [self._queue.get()]
                while not self._queue.empty():
                    batch.append(self._queue.get_nowait())
                stop = batch[-1] is None
                events = [e for e in batch if e is not None]
                if events:
                    self._write(db, events)
                if stop:
                    return

    def _write(self, db: sqlite3.Connection, events: list[Event]) -> None:
        try:
            with db:
                db.executemany(_INSERT, map(_to_row, events))
                db.execute("DELETE FROM events WHERE id <= ?", (events[-1].id - self.capacity,))
            self.persisted_id = events[-1].id
        except sqlite3.Error:
            log.exception("could not save %d events to %s", len(events), self.path)


def _connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def _to_row(event: Event) -> tuple[object, ...]:
    gateway = event.gateway.value if event.gateway else None
    return (event.id, event.ts, event.kind.value, event.nick, event.text, event.old, gateway)


def _from_row(row: tuple) -> Event:  # type: ignore[type-arg]
    id, ts, kind, nick, text, old, gateway = row
    return Event(Kind(kind), nick=nick, text=text, id=id, ts=ts, old=old, gateway=Gateway(gateway) if gateway else None)

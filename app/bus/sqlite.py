"""History on disk: a SQLite file, written by a thread of its own, that also makes ids durable.

**Seen means stored.** The bus gives the writer each loop turn's events as one batch, and the
writer commits whatever batches are waiting in one transaction (a group commit); only then are
they delivered (see ``app.bus.memory``). The file is in WAL mode with ``synchronous=NORMAL``: a
commit is in the operating system's hands when it returns, which survives ``kill -9`` and any
crash of the process (not a power cut, which may take the last commits: that needs ``FULL``, an
fsync per commit). So a commit costs a write, not a flush, and a turn's events pay one together:
what delivery waits for is one commit and two thread hand-offs per turn.

**A slow disk delays delivery, within bounds.** An event waits for its write at most the bus's
``write_wait`` (``CHAT_HISTORY_WAIT``); past it (a hung disk), and at once while writes fail (a
full disk), events are delivered unsaved and ``problem`` says so. Lag is the ids handed out but
not yet saved, and it never exceeds ``LAG_LIMIT`` (one and a half runways): near it the bus holds
new events until the writer has caught up, and past ``HELD_CHAT`` held messages it refuses new
ones with a clear error: back-pressure on publishing, never an event loop blocked for long.

**Ids are reserved before they are used**, for what was delivered unsaved. A client that saw id
N comes back with ``since=N``; if a restart handed N out again, that client would silently skip
the new event N. So the bus hands out no id above the *reserved* mark, a number saved in the file
before any id up to it is used, and every start numbers above it, whether the last run stopped
cleanly or was killed. The writer raises the mark ``RUNWAY`` ids ahead of use, in the same
transaction as the events, when half the runway is used.

**What a crash loses is told.** A clean stop lowers the mark to the last id used. After a crash
the ids between the last saved event and the mark are recorded as a ``Loss``: any of them that
was delivered unsaved is gone, and a client resuming from before them gets a ``gap`` saying so.

**Disk trouble is told, never hidden.** A failed write keeps its events (bounded by the lag
limit) and is retried with backoff; ``problem`` says why meanwhile, the log says so once per
outage, and ``persisted_id`` only moves once the events are really in the file.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from app.bus.history import PRESENCE_KINDS, Loss
from app.domain.audit import SERVER, AuditRecord
from app.domain.events import Event, Gateway, Kind

log = logging.getLogger("app.history")

SCHEMA_VERSION = 5
"""1: the events table alone (releases before versioning left ``user_version`` at 0).
2: adds the id marks and the record of losses.
3: adds each event's room ('' for events saved before rooms: the default room's).
4: adds moderation: its records by table (bans, mutes, room rules and operators, registered nicks)
and the audit log (read and written by ``app.bus.moderation``).
5: the audit log is records (``AuditRecord`` as JSON, by room) instead of lines of text; the lines
kept from before become server-wide records holding their words, so they stay readable (by server
operators only: nobody can tell which room a line was about or whether it names an address)."""

RUNWAY = 1000
LAG_LIMIT = RUNWAY + RUNWAY // 2
RETRY_FIRST, RETRY_MOST = 0.1, 2.0

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    nick TEXT NOT NULL,
    text TEXT NOT NULL,
    old TEXT NOT NULL,
    gateway TEXT,
    room TEXT NOT NULL DEFAULT ''
)""",
    "CREATE TABLE IF NOT EXISTS marks (name TEXT PRIMARY KEY, id INTEGER NOT NULL)",
    "CREATE TABLE IF NOT EXISTS losses (first INTEGER NOT NULL, last INTEGER NOT NULL)",
    """CREATE TABLE IF NOT EXISTS moderation (
    tbl TEXT NOT NULL,
    key TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (tbl, key)
)""",
    "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY, room TEXT NOT NULL, record TEXT NOT NULL)",
    "CREATE INDEX IF NOT EXISTS audit_by_room ON audit (room, id)",
)
_ROOM_INDEX = "CREATE INDEX IF NOT EXISTS events_by_room ON events (room, id)"
_COLUMNS = "id, ts, kind, nick, text, old, gateway, room"
_INSERT = f"INSERT OR REPLACE INTO events ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
_PRESENCE = ", ".join(f"'{kind.value}'" for kind in sorted(PRESENCE_KINDS))
_SET_MARK = "INSERT OR REPLACE INTO marks (name, id) VALUES (?, ?)"
_NEWEST = (
    f"SELECT {_COLUMNS} FROM (SELECT *, row_number() OVER"
    f" (PARTITION BY room, kind IN ({_PRESENCE}) ORDER BY id DESC) AS newest FROM events)"
    f" WHERE newest <= CASE WHEN kind IN ({_PRESENCE}) THEN ? WHEN room IN ('', ?) THEN ? ELSE ? END"
)
_TRIM = (
    f"DELETE FROM events WHERE room = ? AND kind {{0}} IN ({_PRESENCE}) AND id <= "
    f"(SELECT id FROM events WHERE room = ? AND kind {{0}} IN ({_PRESENCE}) ORDER BY id DESC LIMIT 1 OFFSET ?)"
)


class StoreError(Exception):
    """A ``CHAT_DB`` the server cannot use; the message says why in one line."""


@dataclass(frozen=True, slots=True)
class _Reserve:
    """Raise the reserved mark to ``upto`` with the next commit."""

    upto: int


@dataclass(frozen=True, slots=True)
class _Forget:
    """Delete a forgotten room's events with the next commit."""

    room: str


@dataclass(frozen=True, slots=True)
class _Close:
    """Save what is queued, lower the mark to ``last_id`` (a clean stop loses nothing), and stop."""

    last_id: int


class SqliteStore:
    """Saves events to a SQLite file from a writer thread, keeping about ``capacity`` messages of
    the default room, ``room_capacity`` of each other room and ``presence`` presence events of
    each, and keeps the reserved id mark."""

    def __init__(
        self,
        path: str | Path,
        capacity: int,
        presence: int = 100,
        room_capacity: int | None = None,
        default_room: str = "#main",
    ) -> None:
        self.path = str(path)
        self.capacity = capacity
        self.presence_capacity = min(presence, capacity)
        self.room_capacity = capacity if room_capacity is None else min(room_capacity, capacity)
        self.default_room = default_room
        self._queue: queue.SimpleQueue[list[Event] | _Reserve | _Forget | _Close] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._on_progress: Callable[[], None] = lambda: None
        self._mark_moved = threading.Condition()
        """Wakes ``wait_reserved`` when a commit raised the mark or a write failed."""
        self.floor = 0
        """The highest id an earlier run may have handed out: this run numbers above it."""
        self.reserved_id = 0
        """No id at or below this is ever handed out again, after any crash."""
        self.persisted_id = 0
        """Every id up to this is in the file (or was recorded as lost when an earlier run crashed)."""
        self.queued_id = 0
        """The newest id given to the writer: ``lag`` is how far the file is behind it."""
        self._untrimmed: dict[str, int] = {}
        """Events written per room since its old rows were last deleted (the writer thread's)."""
        self.worst_lag = 0
        """The most ids the writer has found waiting at once since start-up."""
        self.losses: list[Loss] = []
        self.problem: str | None = None
        """Why events are not being saved right now (None while writes succeed)."""

    @property
    def lag(self) -> int:
        """Ids handed out and not yet saved (never more than ``LAG_LIMIT``)."""
        return self.queued_id - self.persisted_id

    lag_limit = LAG_LIMIT

    def load(self) -> list[Event]:
        """Open the file (creating or migrating it), record what an unclean stop may have lost,
        reserve the first ids, and read back the newest events. Raises ``StoreError``."""
        try:
            with contextlib.closing(connect(self.path)) as db:
                return self._open(db)
        except sqlite3.Error as problem:
            raise StoreError(_explain(problem)) from None

    def _open(self, db: sqlite3.Connection) -> list[Event]:
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"it was written by a newer release (schema {version}; this release reads up to {SCHEMA_VERSION}):"
                " upgrade the server, or point CHAT_DB at another file"
            )
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if tables and "events" not in tables:
            raise StoreError("it is a SQLite database of another program: point CHAT_DB at another file")
        db.execute("BEGIN IMMEDIATE")  # fails here, at start-up, if the file cannot be written
        try:
            for statement in _SCHEMA:
                db.execute(statement)
            if version == 2 or (tables and version < 2):
                db.execute("ALTER TABLE events ADD COLUMN room TEXT NOT NULL DEFAULT ''")
            db.execute(_ROOM_INDEX)
            if "modlog" in tables:
                _audit_records_from_lines(db)
            marks = dict(db.execute("SELECT name, id FROM marks").fetchall())
            newest = db.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
            written = marks.get("written", newest)  # schema 1 kept no marks: what it saved is all we know
            reserved = max(marks.get("reserved", newest), written)
            if reserved > written:  # the last run stopped without saving up to its mark
                db.execute("INSERT INTO losses (first, last) VALUES (?, ?)", (written + 1, reserved))
            db.execute("DELETE FROM losses WHERE last < (SELECT min(id) FROM events)")
            db.executemany(_SET_MARK, [("written", reserved), ("reserved", reserved + RUNWAY)])
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        limits = (self.presence_capacity, self.default_room, self.capacity, self.room_capacity)
        rows = db.execute(_NEWEST, limits).fetchall()
        self.losses = [Loss(first, last) for first, last in db.execute("SELECT first, last FROM losses ORDER BY first")]
        self.floor = self.persisted_id = self.queued_id = reserved
        self.reserved_id = reserved + RUNWAY
        return sorted((_from_row(row, self.default_room) for row in rows), key=lambda event: event.id)

    def start(self, on_progress: Callable[[], None] | None = None) -> None:
        """Start the writer; ``on_progress()`` is called from its thread after each commit (which
        moves ``persisted_id`` or ``reserved_id``) and each failed one (which sets ``problem``)."""
        if on_progress is not None:
            self._on_progress = on_progress
        self._thread = threading.Thread(target=self._write_forever, name="history-writer", daemon=True)
        self._thread.start()

    def save(self, batch: list[Event]) -> None:
        """Write ``batch`` (events in id order, above any saved before) with the next commit."""
        self.queued_id = batch[-1].id
        self._queue.put(batch)

    def forget(self, room: str) -> None:
        """Delete a room's saved events (its history was forgotten to make space for a new room)."""
        self._queue.put(_Forget(room))

    def reserve(self, upto: int) -> None:
        """Ask the writer to raise the reserved mark to ``upto`` with its next commit."""
        self._queue.put(_Reserve(upto))

    def wait_reserved(self, needed: int, timeout: float) -> int:
        """Block until the mark reaches ``needed`` (or a write fails, or ``timeout``); the mark."""
        with self._mark_moved:
            self._mark_moved.wait_for(lambda: self.reserved_id >= needed or self.problem is not None, timeout)
        return self.reserved_id

    def close(self, last_id: int | None = None, timeout: float = 5.0) -> None:
        """Write what is queued and stop the writer; ``last_id`` is the last id handed out."""
        if self._thread is not None:
            self._queue.put(_Close(self.queued_id if last_id is None else last_id))
            self._thread.join(timeout)
            self._thread = None

    def _write_forever(self) -> None:
        pending: list[Event] = []  # taken from the queue and not yet committed: kept for the retry
        forgotten: list[str] = []
        reserve = self.reserved_id
        closing: _Close | None = None
        retry = RETRY_FIRST
        with contextlib.closing(connect(self.path)) as db:
            while True:
                items = []
                with contextlib.suppress(queue.Empty):  # while writes fail, wake up to retry
                    items.append(self._queue.get(timeout=retry if self.problem else None))
                    while not self._queue.empty():
                        items.append(self._queue.get_nowait())
                for item in items:
                    if isinstance(item, list):
                        pending += item
                    elif isinstance(item, _Reserve):
                        reserve = max(reserve, item.upto)
                    elif isinstance(item, _Forget):
                        forgotten.append(item.room)
                    else:
                        closing = item
                if pending:
                    self.worst_lag = max(self.worst_lag, pending[-1].id - self.persisted_id)
                if self._commit(db, pending, reserve, closing, forgotten):
                    pending.clear()
                    forgotten.clear()
                    retry = RETRY_FIRST
                else:
                    retry = min(retry * 2, RETRY_MOST)
                if closing is not None:
                    return  # a failed final write is recorded as a loss by the next start

    def _commit(
        self, db: sqlite3.Connection, events: list[Event], reserve: int, closing: _Close | None, forgotten: list[str]
    ) -> bool:
        if not events and reserve <= self.reserved_id and closing is None and not forgotten:
            return True
        written = events[-1].id if events else self.persisted_id
        if closing is not None and closing.last_id == written:
            reserve = written  # everything handed out is saved: the next start numbers right after it
        try:
            db.execute("BEGIN")
            if events:
                db.executemany(_INSERT, map(self._to_row, events))
            for room in self._due_for_trim(events, closing is not None):
                capacity = self.capacity if room == self.default_room else self.room_capacity
                db.execute(_TRIM.format("NOT"), (room, room, capacity))
                db.execute(_TRIM.format(""), (room, room, self.presence_capacity))
            db.executemany("DELETE FROM events WHERE room = ?", [(room,) for room in forgotten])
            db.executemany(_SET_MARK, [("written", written), ("reserved", max(reserve, written))])
            db.execute("COMMIT")
        except sqlite3.Error as problem:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            if self.problem is None:
                log.warning("cannot save history to %s (%s): retrying with %d events", self.path, problem, len(events))
            self.problem = f"cannot save history to {self.path}: {problem}"
            with self._mark_moved:
                self._mark_moved.notify_all()
            self._on_progress()
            return False
        if self.problem is not None:
            log.warning("history is saved to %s again: %d waiting events written", self.path, len(events))
            self.problem = None
        self.persisted_id = written
        if reserve > self.reserved_id:
            with self._mark_moved:
                self.reserved_id = reserve
                self._mark_moved.notify_all()
        self._on_progress()
        return True

    def _due_for_trim(self, events: list[Event], closing: bool) -> list[str]:
        """The rooms whose old rows to delete with this commit: each once a quarter of its
        capacity has been written since its last trim (one trim per event would cost two
        deletes per room per commit: with many rooms, more than the writes), and all at a stop."""
        untrimmed = self._untrimmed
        for event in events:
            room = event.room or self.default_room
            untrimmed[room] = untrimmed.get(room, 0) + 1
        due = [
            room
            for room, count in untrimmed.items()
            if closing or count >= max(1, (self.capacity if room == self.default_room else self.room_capacity) // 4)
        ]
        for room in due:
            del untrimmed[room]
        return due

    def _to_row(self, event: Event) -> tuple[object, ...]:
        gateway = event.gateway.value if event.gateway else None
        room = event.room or self.default_room
        return (event.id, event.ts, event.kind.value, event.nick, event.text, event.old, gateway, room)


def connect(path: str) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)  # transactions are ours
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def _audit_records_from_lines(db: sqlite3.Connection) -> None:
    """Schema 4 to 5: each line of the old audit log becomes a record, in the same order."""
    lines = db.execute("SELECT id, ts, entry FROM modlog ORDER BY id").fetchall()
    records = [(id, SERVER, AuditRecord.legacy(entry, ts).record()) for id, ts, entry in lines]
    db.executemany("INSERT INTO audit (id, room, record) VALUES (?, ?, ?)", records)
    db.execute("DROP TABLE modlog")


def _explain(problem: sqlite3.Error) -> str:
    if getattr(problem, "sqlite_errorname", "") == "SQLITE_NOTADB":
        return f"it is not a SQLite database ({problem}): move it away, or point CHAT_DB at another file"
    return f"cannot open it for writing ({problem}): check that its directory exists and the server may write there"


def _from_row(row: tuple, default_room: str) -> Event:  # type: ignore[type-arg]
    id, ts, kind, nick, text, old, gateway, room = row
    return Event(
        Kind(kind),
        nick=nick,
        text=text,
        id=id,
        ts=ts,
        old=old,
        gateway=Gateway(gateway) if gateway else None,
        room=room or default_room,
    )

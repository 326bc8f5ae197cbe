"""The SQLite history store: round trip, bounds, reserved ids across crashes, start-up checks and
the migration of files written by earlier releases (before schema versions, schema 2, 3 and 4)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from app.bus.history import Loss
from app.bus.moderation import SqliteModeration, Table
from app.bus.sqlite import RUNWAY, SCHEMA_VERSION, SqliteStore, StoreError
from app.domain.audit import AuditRecord
from app.domain.events import Event, Gateway, Kind

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def message(id: int, text: str = "") -> Event:
    return Event(Kind.MESSAGE, nick="ann", text=text or f"m{id}", id=id, ts=1_700_000_000.0 + id)


def join(id: int) -> Event:
    return Event(Kind.JOIN, nick=f"guest{id}", id=id, ts=1_700_000_000.0 + id, gateway=Gateway.WEB)


def eventually(done: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not done():
        assert time.monotonic() < deadline, "the writer did not get there in time"
        time.sleep(0.01)


def written(path: Path, events: list[Event], capacity: int = 100, presence: int = 100) -> SqliteStore:
    store = SqliteStore(path, capacity, presence)
    store.load()
    store.start()
    for event in events:
        store.save([event])
    store.close()
    return store


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    events = [
        message(1, "héllo 👋"),
        Event(Kind.JOIN, nick="bob", id=2, ts=5.5, gateway=Gateway.TELNET),
        Event(Kind.NICK, nick="bobby", old="bob", id=3, ts=6.0, gateway=Gateway.TELNET),
        Event(Kind.ACTION, nick="bobby", text="waves", id=4, ts=7.0),
        Event(Kind.LEAVE, nick="bobby", text="bye", id=5, ts=8.0, gateway=Gateway.WEB, room="#dev"),
    ]
    assert written(tmp_path / "chat.db", events).persisted_id == 5
    reopened = SqliteStore(tmp_path / "chat.db", capacity=100)
    assert reopened.load() == [e if e.room else replace(e, room="#main") for e in events], "no room: the default one"
    assert reopened.floor == 5 and reopened.losses == [], "a clean stop loses nothing and skips no id"


def test_messages_and_presence_are_bounded_separately(tmp_path: Path) -> None:
    events = [message(i) for i in range(1, 21)] + [join(i) for i in range(21, 121)]
    written(tmp_path / "chat.db", events, capacity=10, presence=5)
    loaded = SqliteStore(tmp_path / "chat.db", capacity=50, presence=50).load()
    assert [e.id for e in loaded] == [*range(11, 21), *range(116, 121)], "old rows are deleted, not just hidden"


def test_a_crash_never_reuses_an_id_and_records_what_may_be_lost(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    first = SqliteStore(path, 100)
    first.load()
    assert first.reserved_id == RUNWAY, "ids are reserved before any is handed out"
    first.start()
    for i in range(1, 11):
        first.save([message(i)])
    eventually(lambda: first.persisted_id == 10)  # then the process dies: the writer is never closed
    second = SqliteStore(path, 100)
    assert [e.id for e in second.load()] == list(range(1, 11))
    assert second.floor == RUNWAY, "the next run numbers above every id the first could have handed out"
    assert second.losses == [Loss(11, RUNWAY)]
    assert second.reserved_id == 2 * RUNWAY
    third = SqliteStore(path, 100)
    third.load()
    assert third.losses == [Loss(11, RUNWAY), Loss(RUNWAY + 1, 2 * RUNWAY)]


def test_the_writer_tops_up_the_reservation_ahead_of_use(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "chat.db", 100)
    store.load()
    raised: list[int] = []
    store.start(lambda: raised.append(store.reserved_id))
    store.reserve(5000)
    eventually(lambda: store.reserved_id == 5000)
    assert raised == [5000]
    store.close(last_id=0)
    reopened = SqliteStore(tmp_path / "chat.db", 100)
    assert reopened.load() == []
    assert (reopened.floor, reopened.losses) == (0, []), "a clean stop gives back the ids it did not use"


def test_a_file_from_before_schema_versions_is_migrated_in_place(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    with sqlite3.connect(path) as db:
        db.executescript((FIXTURES / "history-schema-1.sql").read_text())
    store = SqliteStore(path, 100)
    events = store.load()
    assert [(e.kind, e.nick, e.text) for e in events][1:5:3] == [
        (Kind.MESSAGE, "ann", "said before the upgrade"),
        (Kind.MESSAGE, "anna", "héllo 👋 still here"),
    ]
    assert [e.id for e in events] == [1, 2, 3, 4, 5, 6]
    assert store.floor == 6 and store.losses == []
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    store.start()
    store.save([message(7, "said after the upgrade")])
    store.close()
    assert [e.text for e in SqliteStore(path, 100).load()][-1] == "said after the upgrade"


_EARLIER_SCHEMAS = {
    2: """
        CREATE TABLE events (id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, nick TEXT NOT NULL,
            text TEXT NOT NULL, old TEXT NOT NULL, gateway TEXT);
        CREATE TABLE marks (name TEXT PRIMARY KEY, id INTEGER NOT NULL);
        CREATE TABLE losses (first INTEGER NOT NULL, last INTEGER NOT NULL);
        INSERT INTO events VALUES (1, 1700000001.0, 'message', 'ann', 'said in schema 2', '', NULL);
        INSERT INTO marks VALUES ('written', 1), ('reserved', 1);
        PRAGMA user_version = 2;
    """,
    3: """
        CREATE TABLE events (id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, nick TEXT NOT NULL,
            text TEXT NOT NULL, old TEXT NOT NULL, gateway TEXT, room TEXT NOT NULL DEFAULT '');
        CREATE TABLE marks (name TEXT PRIMARY KEY, id INTEGER NOT NULL);
        CREATE TABLE losses (first INTEGER NOT NULL, last INTEGER NOT NULL);
        CREATE INDEX events_by_room ON events (room, id);
        INSERT INTO events VALUES (1, 1700000001.0, 'message', 'ann', 'said in schema 3', '', NULL, '#dev');
        INSERT INTO marks VALUES ('written', 1), ('reserved', 1);
        PRAGMA user_version = 3;
    """,
}


@pytest.mark.parametrize("version", sorted(_EARLIER_SCHEMAS))
def test_a_file_from_an_earlier_schema_keeps_its_history_and_gains_moderation(tmp_path: Path, version: int) -> None:
    path = tmp_path / "chat.db"
    with sqlite3.connect(path) as db:
        db.executescript(_EARLIER_SCHEMAS[version])
    store = SqliteStore(path, 100)
    [event] = store.load()
    assert (event.nick, event.text) == ("ann", f"said in schema {version}")
    assert event.room == ("#dev" if version == 3 else store.default_room)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION

    async def ban_and_read_back() -> dict[str, str]:
        moderation = SqliteModeration(str(path))
        try:
            await moderation.put(Table.BANS, "nick:mallory", "{}")
            banned = AuditRecord.of(1_700_000_009.0, "", "op", "ban", "mallory", detail="permanent")
            await moderation.append_log(banned)
            assert await moderation.log(5, None) == [banned]
            return await moderation.read(Table.BANS)
        finally:
            await moderation.close()

    assert asyncio.run(ban_and_read_back()) == {"nick:mallory": "{}"}


_SCHEMA_4 = """
    CREATE TABLE events (id INTEGER PRIMARY KEY, ts REAL NOT NULL, kind TEXT NOT NULL, nick TEXT NOT NULL,
        text TEXT NOT NULL, old TEXT NOT NULL, gateway TEXT, room TEXT NOT NULL DEFAULT '');
    CREATE TABLE marks (name TEXT PRIMARY KEY, id INTEGER NOT NULL);
    CREATE TABLE losses (first INTEGER NOT NULL, last INTEGER NOT NULL);
    CREATE TABLE moderation (tbl TEXT NOT NULL, key TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (tbl, key));
    CREATE TABLE modlog (id INTEGER PRIMARY KEY, ts REAL NOT NULL, entry TEXT NOT NULL);
    INSERT INTO events VALUES (1, 1700000001.0, 'message', 'ann', 'said in schema 4', '', NULL, '#main');
    INSERT INTO marks VALUES ('written', 1), ('reserved', 1);
    INSERT INTO modlog VALUES
        (1, 1700000002.0, '2023-11-14 22:13:22 op banned 203.0.113.7/32 (permanent) with the nick');
    INSERT INTO modlog VALUES (2, 1700000003.0, '2023-11-14 22:13:23 #dev: ann was kicked by op: flooding');
    INSERT INTO modlog VALUES (3, 1700000004.0, 'a line someone wrote by hand');
    PRAGMA user_version = 4;
"""


def test_the_audit_lines_of_schema_4_become_records_that_only_server_operators_read(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    with sqlite3.connect(path) as db:
        db.executescript(_SCHEMA_4)
    [event] = SqliteStore(path, 100).load()
    assert event.text == "said in schema 4"

    async def read_back() -> tuple[list[AuditRecord], list[AuditRecord]]:
        moderation = SqliteModeration(str(path))
        try:
            return await moderation.log(10, None), await moderation.log(10, "#dev")
        finally:
            await moderation.close()

    everything, dev = asyncio.run(read_back())
    assert [record.line(full=True) for record in everything] == [
        "2023-11-14 22:13:22 op banned 203.0.113.7/32 (permanent) with the nick",
        "2023-11-14 22:13:23 #dev: ann was kicked by op: flooding",
        "2023-11-14 22:13:24 a line someone wrote by hand",
    ]
    assert dev == [], "nobody can tell what an old line names: a room's operators do not read it"
    with sqlite3.connect(path) as db:
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert "modlog" not in tables


def test_a_file_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match=rf"newer release \(schema {SCHEMA_VERSION + 1}; this release reads up to"):
        SqliteStore(path, 100).load()


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"just some notes\n" * 100, "it is not a SQLite database"), (None, "cannot open it for writing")],
    ids=["not-a-database", "no-such-directory"],
)
def test_an_unusable_file_is_refused_in_one_line(tmp_path: Path, content: bytes | None, message: str) -> None:
    path = tmp_path / "notes.txt" if content else tmp_path / "missing" / "chat.db"
    if content:
        path.write_bytes(content)
    with pytest.raises(StoreError, match=message) as refused:
        SqliteStore(path, 100).load()
    assert "\n" not in str(refused.value)
    if content:
        assert path.read_bytes() == content, "the file is left as it was"


def test_another_programs_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StoreError, match="database of another program"):
        SqliteStore(path, 100).load()


def test_each_room_keeps_its_own_bounded_history_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    store = SqliteStore(path, capacity=6, presence=2, room_capacity=3)
    store.load()
    store.start()
    events = [replace(message(i), room="#main" if i % 3 == 0 else f"#r{i % 3}") for i in range(1, 61)]
    for event in events:
        store.save([event])
    store.close()
    loaded = SqliteStore(path, capacity=100, presence=100, room_capacity=100).load()
    by_room = {room: [e.id for e in loaded if e.room == room] for room in ("#main", "#r1", "#r2")}
    assert by_room == {"#main": [45, 48, 51, 54, 57, 60], "#r1": [52, 55, 58], "#r2": [53, 56, 59]}
    store = SqliteStore(path, capacity=6, presence=2, room_capacity=3)
    store.load()
    store.start()
    store.forget("#r1")
    store.close()
    assert {e.room for e in SqliteStore(path, capacity=100).load()} == {"#main", "#r2"}, "a forgotten room is deleted"

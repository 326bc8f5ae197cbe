"""Where moderation state lives: bans, mutes, room operators, registered nicks, and the audit log.

Three engines behind one small async interface of named tables (key to JSON record) and an
append-only log: in memory (history kept in memory only), the history's SQLite file (tables of
its own, added by a schema migration in ``app.bus.sqlite``), and Redis when rooms are shared,
so a ban written by one process is read by every other. SQLite calls run on a worker thread:
the event loop never waits for the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from enum import StrEnum
from typing import Protocol

from app.bus import redis_connect
from app.bus.redis_connect import Client
from app.bus.redis_keys import Keys
from app.bus.sqlite import connect

LOG_KEPT = 1000
"""Audit entries kept (the newest); the server log keeps every one."""


class Table(StrEnum):
    BANS = "bans"
    MUTES = "mutes"
    OPS = "ops"  # room operator grants: to a registration
    NICKS = "nicks"
    ROOMS = "rooms"  # each room's standing rules (slow mode, invite-only, a locked topic)
    FOUNDERS = "founders"  # each room's founder: the person (a registration, or a guest's session) who made it
    ROOM_BANS = "roombans"  # people kept out of a room by its operators


class ModerationStore(Protocol):
    async def read(self, table: Table) -> dict[str, str]:
        """Every record of ``table``, by key."""
        ...

    async def put(self, table: Table, key: str, record: str) -> None: ...

    async def put_new(self, table: Table, key: str, record: str) -> bool:
        """Write a record only if ``key`` has none; whether it was written (of several processes
        claiming one key at once, exactly one wins)."""
        ...

    async def delete(self, table: Table, key: str) -> bool:
        """Remove a record; whether it was there."""
        ...

    async def append_log(self, entry: str) -> None: ...

    async def log(self, count: int) -> list[str]:
        """The newest ``count`` audit entries, oldest first."""
        ...

    async def redact(self, id: int, room: str) -> None:
        """Remove message ``id`` of ``room`` from the stored history (the caller waits until it is stored)."""

    async def version(self) -> int:
        """A number that changes whenever a record does (0 for ever when no other process writes)."""
        ...

    shared: bool
    """Other processes write here too: watch ``version``."""

    async def close(self) -> None: ...


class MemoryStore:
    """For a server whose history lives in memory only: moderation lasts as long as the process."""

    shared = False

    def __init__(self) -> None:
        self.tables: dict[Table, dict[str, str]] = {table: {} for table in Table}
        self.entries: list[str] = []

    async def read(self, table: Table) -> dict[str, str]:
        return dict(self.tables[table])

    async def put(self, table: Table, key: str, record: str) -> None:
        self.tables[table][key] = record

    async def put_new(self, table: Table, key: str, record: str) -> bool:
        if key in self.tables[table]:
            return False
        self.tables[table][key] = record
        return True

    async def delete(self, table: Table, key: str) -> bool:
        return self.tables[table].pop(key, None) is not None

    async def append_log(self, entry: str) -> None:
        self.entries.append(entry)
        del self.entries[:-LOG_KEPT]

    async def log(self, count: int) -> list[str]:
        return self.entries[-count:]

    async def redact(self, id: int, room: str) -> None:
        pass  # history lives in memory only: the bus's own copy is all there is

    async def version(self) -> int:
        return 0

    async def close(self) -> None:
        pass


class SqliteModeration:
    """The tables in the history's SQLite file (opened after the history store has migrated it)."""

    shared = False  # a history file belongs to one process (see app.bus.claim)

    def __init__(self, path: str) -> None:
        self.path = path
        self._db: sqlite3.Connection | None = None  # opened on first use, once the history store has migrated the file
        self._lock = asyncio.Lock()  # one connection: one statement at a time

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self._db = connect(self.path)
            self._db.execute("PRAGMA busy_timeout = 5000")  # the history writer may hold the lock a moment
        return self._db

    async def _query(self, sql: str, *args: object) -> list[tuple[str, ...]]:
        async with self._lock:
            return await asyncio.to_thread(lambda: self._connection().execute(sql, args).fetchall())

    async def _change(self, sql: str, *args: object) -> int:
        """Run a write; the number of rows it changed."""
        async with self._lock:
            return await asyncio.to_thread(lambda: self._connection().execute(sql, args).rowcount)

    async def read(self, table: Table) -> dict[str, str]:
        rows = await self._query("SELECT key, record FROM moderation WHERE tbl = ?", table.value)
        return dict(rows)  # type: ignore[arg-type]

    async def put(self, table: Table, key: str, record: str) -> None:
        sql = "INSERT OR REPLACE INTO moderation (tbl, key, record) VALUES (?, ?, ?)"
        await self._change(sql, table.value, key, record)

    async def put_new(self, table: Table, key: str, record: str) -> bool:
        sql = "INSERT OR IGNORE INTO moderation (tbl, key, record) VALUES (?, ?, ?)"
        return bool(await self._change(sql, table.value, key, record))

    async def delete(self, table: Table, key: str) -> bool:
        return bool(await self._change("DELETE FROM moderation WHERE tbl = ? AND key = ?", table.value, key))

    async def append_log(self, entry: str) -> None:
        await self._change("INSERT INTO modlog (ts, entry) VALUES (?, ?)", time.time(), entry)
        await self._change("DELETE FROM modlog WHERE id <= (SELECT max(id) FROM modlog) - ?", LOG_KEPT)

    async def log(self, count: int) -> list[str]:
        rows = await self._query("SELECT entry FROM modlog ORDER BY id DESC LIMIT ?", count)
        return [entry for (entry,) in reversed(rows)]

    async def redact(self, id: int, room: str) -> None:
        await self._change("DELETE FROM events WHERE id = ?", id)  # one sequence for the server: ids are unique

    async def version(self) -> int:
        return 0

    async def close(self) -> None:
        async with self._lock:
            if self._db is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._db.close()


class RedisModeration:
    """Hashes and a list beside the shared server's presence (in its slot): every process reads the
    same bans. Each write moves a version number, which the other processes watch."""

    shared = True

    def __init__(self, url: str, namespace: str) -> None:
        self._url = url
        self._redis: Client | None = None
        self._connecting = asyncio.Lock()
        self._keys = Keys(namespace)
        self._prefix = self._keys.moderation

    async def _client(self) -> Client:
        """Connected on first use: whether it is a cluster client is only known once Redis answers."""
        async with self._connecting:
            if self._redis is None:
                self._redis = await redis_connect.connect(self._url)
        return self._redis

    async def read(self, table: Table) -> dict[str, str]:
        return await (await self._client()).hgetall(self._prefix + table.value)  # type: ignore[no-any-return, misc]

    async def put(self, table: Table, key: str, record: str) -> None:
        async with (await self._client()).pipeline(transaction=True) as pipe:
            pipe.hset(self._prefix + table.value, key, record)
            pipe.incr(self._prefix + "version")
            await pipe.execute()

    async def put_new(self, table: Table, key: str, record: str) -> bool:
        async with (await self._client()).pipeline(transaction=True) as pipe:
            pipe.hsetnx(self._prefix + table.value, key, record)
            pipe.incr(self._prefix + "version")
            added, _ = await pipe.execute()
        return bool(added)

    async def delete(self, table: Table, key: str) -> bool:
        async with (await self._client()).pipeline(transaction=True) as pipe:
            pipe.hdel(self._prefix + table.value, key)
            pipe.incr(self._prefix + "version")
            removed, _ = await pipe.execute()
        return bool(removed)

    async def version(self) -> int:
        return int(await (await self._client()).get(self._prefix + "version") or 0)

    async def append_log(self, entry: str) -> None:
        async with (await self._client()).pipeline(transaction=True) as pipe:
            pipe.rpush(self._prefix + "log", entry)
            pipe.ltrim(self._prefix + "log", -LOG_KEPT, -1)
            await pipe.execute()

    async def log(self, count: int) -> list[str]:
        return await (await self._client()).lrange(self._prefix + "log", -count, -1)  # type: ignore[no-any-return, misc]

    async def redact(self, id: int, room: str) -> None:
        """Out of both streams the room's history is read from (a process starting later never sees it)."""
        keys = self._keys.room(room)
        async with (await self._client()).pipeline(transaction=True) as pipe:
            for stream in (keys.stream, keys.said):
                pipe.xdel(stream, f"{id}-0")
            await pipe.execute()

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()

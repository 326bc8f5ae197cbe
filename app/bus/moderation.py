"""Where moderation state lives: bans, mutes, room operators, registered nicks, and the audit log.

Three engines behind one small async interface of named tables (key to JSON record) and an
append-only log of records (``AuditRecord``, kept as JSON and read back by room): in memory
(history kept in memory only), the history's SQLite file (tables of its own, added by a schema
migration in ``app.bus.sqlite``), and Redis when rooms are shared,
so a ban written by one process is read by every other. SQLite calls run on a worker thread:
the event loop never waits for the disk.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from app.bus import redis_connect
from app.bus.redis_connect import Client
from app.bus.redis_keys import Keys
from app.bus.sqlite import connect
from app.domain.audit import AuditRecord

LOG_KEPT = 1000
"""Audit records kept (the newest) of each room, of the server-wide ones, and (in memory and Redis)
of all together; the server log keeps every one."""
GUESSES_KEPT = 100_000
"""Guess counts one process keeps at most: under a spray from everywhere the oldest go first."""


class Table(StrEnum):
    BANS = "bans"
    MUTES = "mutes"
    OPS = "ops"  # room operator grants: to a registration
    NICKS = "nicks"
    TOKENS = "tokens"  # the tokens of registered nicks, by "nick-key id"
    ROOMS = "rooms"  # each room's standing rules (slow mode, invite-only, a locked topic)
    FOUNDERS = "founders"  # each room's founder: the person (a registration, or a guest's session) who made it
    ROOM_BANS = "roombans"  # people kept out of a room by its operators


class GuessCounter(Protocol):
    """Counts of password attempts (see ``app.domain.guesses``), each counted before it is checked."""

    async def attempt(self, key: str, now: float, waits: tuple[float, ...], forget: float) -> float:
        """Count an attempt under ``key`` and return 0; or, if the last one counted was too recent,
        return how long to wait (and count nothing). ``waits``: the wait after the 1st, 2nd …
        attempt (the last holds for every later one); ``forget``: seconds of quiet after which the
        count starts again. Atomic: two attempts at once are two attempts."""
        ...

    async def forgive(self, key: str) -> None:
        """Start ``key``'s count again (the attempt proved right)."""


class ModerationStore(Protocol):
    async def read(self, table: Table) -> dict[str, str]:
        """Every record of ``table``, by key."""
        ...

    async def put(self, table: Table, key: str, record: str) -> None: ...

    async def update(self, table: Table, key: str, record: str) -> bool:
        """Replace a record only if it is there (another process may have deleted it: a revoked
        token is not brought back by a late note that it was used); whether it was."""
        ...

    async def put_new(self, table: Table, key: str, record: str) -> bool:
        """Write a record only if ``key`` has none; whether it was written (of several processes
        claiming one key at once, exactly one wins)."""
        ...

    async def delete(self, table: Table, key: str) -> bool:
        """Remove a record; whether it was there."""
        ...

    async def append_log(self, record: AuditRecord) -> None: ...

    async def log(self, count: int, room: str | None) -> list[AuditRecord]:
        """The newest ``count`` audit records of ``room`` (None: of every room and the server),
        oldest first."""
        ...

    async def redact(self, id: int, room: str) -> None:
        """Remove message ``id`` of ``room`` from the stored history (the caller waits until it is stored)."""

    async def version(self) -> int:
        """A number that changes whenever a record does (0 for ever when no other process writes)."""
        ...

    shared: bool
    """Other processes write here too: watch ``version``."""

    guesses: GuessCounter
    """Where the counts every process shares are kept."""

    async def close(self) -> None: ...


@dataclass(slots=True)
class _Count:
    attempts: int
    next_at: float
    """When the next attempt may be made."""
    forget_at: float


class LocalGuesses:
    """Counts kept by this process: a connection's, and every count when no other process shares the rooms."""

    def __init__(self, kept: int = GUESSES_KEPT) -> None:
        self.counts: dict[str, _Count] = {}
        self.kept = kept

    async def attempt(self, key: str, now: float, waits: tuple[float, ...], forget: float) -> float:
        count = self.counts.pop(key, None)  # put back last: the dict stays in order of last use
        if count is not None and now >= count.forget_at:
            count = None
        if count is not None and now < count.next_at:
            self.counts[key] = count
            return count.next_at - now
        attempts = count.attempts + 1 if count else 1
        wait = waits[min(attempts, len(waits)) - 1]
        self.counts[key] = _Count(attempts, now + wait, now + wait + forget)
        if len(self.counts) > self.kept:
            for stale in list(self.counts)[: len(self.counts) - self.kept // 2]:
                del self.counts[stale]
        return 0.0

    async def forgive(self, key: str) -> None:
        self.drop(key)

    def drop(self, key: str) -> None:
        self.counts.pop(key, None)


# KEYS: the count (a hash of attempts and when the next may be made). ARGV: now, seconds of quiet
# after which it is forgotten, then the wait after each attempt (the last for every later one).
_ATTEMPT = """
local now = tonumber(ARGV[1])
local attempts = tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0')
local next_at = tonumber(redis.call('HGET', KEYS[1], 'next_at') or '0')
if now < next_at then return string.format('%.6f', next_at - now) end
attempts = attempts + 1
local wait = tonumber(ARGV[2 + math.min(attempts, #ARGV - 2)])
if wait > 0 then next_at = now + wait else next_at = 0 end
redis.call('HSET', KEYS[1], 'attempts', attempts, 'next_at', string.format('%.6f', next_at))
redis.call('EXPIRE', KEYS[1], math.ceil(wait + tonumber(ARGV[2])) + 1)
return '0'
"""


# KEYS: a table's hash, the version. ARGV: key, record. Replaces the record only if it is there.
_UPDATE = """
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
return 1
"""


class RedisGuesses:
    """Counts every process shares: one Lua script counts and decides, so a burst spread over
    processes is counted exactly."""

    def __init__(self, client: Callable[[], Awaitable[Client]], prefix: str) -> None:
        self._client = client
        self._prefix = prefix

    async def attempt(self, key: str, now: float, waits: tuple[float, ...], forget: float) -> float:
        redis = await self._client()
        wait = await redis.eval(_ATTEMPT, 1, self._prefix + key, repr(now), repr(forget), *map(repr, waits))  # type: ignore[misc]
        return float(wait)

    async def forgive(self, key: str) -> None:
        await (await self._client()).delete(self._prefix + key)


class MemoryStore:
    """For a server whose history lives in memory only: moderation lasts as long as the process."""

    shared = False

    def __init__(self) -> None:
        self.guesses = LocalGuesses()
        self.tables: dict[Table, dict[str, str]] = {table: {} for table in Table}
        self.entries: deque[AuditRecord] = deque(maxlen=LOG_KEPT)
        """Every room's records and the server's, together."""
        self.by_room: dict[str, deque[AuditRecord]] = {}
        """Each room's own, so a busy room does not push a quiet one's out."""

    async def read(self, table: Table) -> dict[str, str]:
        return dict(self.tables[table])

    async def put(self, table: Table, key: str, record: str) -> None:
        self.tables[table][key] = record

    async def update(self, table: Table, key: str, record: str) -> bool:
        if key not in self.tables[table]:
            return False
        self.tables[table][key] = record
        return True

    async def put_new(self, table: Table, key: str, record: str) -> bool:
        if key in self.tables[table]:
            return False
        self.tables[table][key] = record
        return True

    async def delete(self, table: Table, key: str) -> bool:
        return self.tables[table].pop(key, None) is not None

    async def append_log(self, record: AuditRecord) -> None:
        self.entries.append(record)
        self.by_room.setdefault(record.room, deque(maxlen=LOG_KEPT)).append(record)

    async def log(self, count: int, room: str | None) -> list[AuditRecord]:
        kept = self.entries if room is None else self.by_room.get(room, ())
        return list(kept)[-count:] if count > 0 else []

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
        self.guesses = LocalGuesses()  # counts need not outlive the process: a restart forgets them
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

    async def update(self, table: Table, key: str, record: str) -> bool:
        sql = "UPDATE moderation SET record = ? WHERE tbl = ? AND key = ?"
        return bool(await self._change(sql, record, table.value, key))

    async def put_new(self, table: Table, key: str, record: str) -> bool:
        sql = "INSERT OR IGNORE INTO moderation (tbl, key, record) VALUES (?, ?, ?)"
        return bool(await self._change(sql, table.value, key, record))

    async def delete(self, table: Table, key: str) -> bool:
        return bool(await self._change("DELETE FROM moderation WHERE tbl = ? AND key = ?", table.value, key))

    async def append_log(self, record: AuditRecord) -> None:
        await self._change("INSERT INTO audit (room, record) VALUES (?, ?)", record.room, record.record())
        older = "SELECT id FROM audit WHERE room = ? ORDER BY id DESC LIMIT -1 OFFSET ?"
        await self._change(f"DELETE FROM audit WHERE id IN ({older})", record.room, LOG_KEPT)

    async def log(self, count: int, room: str | None) -> list[AuditRecord]:
        if room is None:
            rows = await self._query("SELECT record FROM audit ORDER BY id DESC LIMIT ?", count)
        else:
            rows = await self._query("SELECT record FROM audit WHERE room = ? ORDER BY id DESC LIMIT ?", room, count)
        return [AuditRecord.parse(record) for (record,) in reversed(rows)]

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
        self.guesses = RedisGuesses(self._client, self._prefix + "guess:")

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

    async def update(self, table: Table, key: str, record: str) -> bool:
        keys = (self._prefix + table.value, self._prefix + "version")
        return bool(await (await self._client()).eval(_UPDATE, 2, *keys, key, record))  # type: ignore[misc]

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

    def _log_key(self, room: str | None) -> str:
        """The list of every record (None), or of one room's (``SERVER``: the server-wide ones)."""
        return self._prefix + "log" + ("" if room is None else f":{room}")

    async def append_log(self, record: AuditRecord) -> None:
        entry = record.record()
        async with (await self._client()).pipeline(transaction=True) as pipe:
            for key in (self._log_key(None), self._log_key(record.room)):
                pipe.rpush(key, entry)
                pipe.ltrim(key, -LOG_KEPT, -1)
            await pipe.execute()

    async def log(self, count: int, room: str | None) -> list[AuditRecord]:
        if count <= 0:
            return []
        entries = await (await self._client()).lrange(self._log_key(room), -count, -1)
        return [AuditRecord.parse(entry) for entry in entries]  # the list may hold lines from before records

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

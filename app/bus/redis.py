"""The shared bus: one room, one order, one history and one presence list across processes.

Every public event goes through one Lua script that gives it the room's next id and Redis's
time and appends it to a Redis Stream under that id, so ids are one increasing integer whichever
process published. Every process tails the stream with ``XREAD BLOCK`` from the last id it
delivered: a process whose connection blips catches up instead of losing events (pub/sub would
lose them). The same script keeps the presence hash (nick key -> member) that makes nicks
unique across processes, and a dedup key per event makes a retried publish exactly-once.

When Redis cannot be reached the room is *degraded*: local users stay connected, publishing
queues locally (chat messages up to a bound), and the tasks retry with backoff; on recovery the
queue is sent and tailing resumes from the last delivered id.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import random
import secrets
from collections import deque
from dataclasses import dataclass, replace
from urllib.parse import urlsplit
from uuid import uuid4

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from app.bus.base import Deliver, Listener
from app.bus.history import History
from app.bus.records import RecordError, event_record, member_record, read_entry, read_event, read_member
from app.domain.events import Event, Kind
from app.domain.nicks import nick_key
from app.domain.room import RemoteMember

log = logging.getLogger("app.redis")

UNREACHABLE = (RedisError, OSError)
"""Redis not answering, or answering with an error for a whole batch: either way the room is
degraded and the loops retry with backoff, rather than a task dying or spinning."""

QUEUED_KINDS = frozenset({Kind.MESSAGE, Kind.ACTION, Kind.PRIVATE})
"""What is refused beyond the bound while degraded; join, leave and nick always queue (one per
connection at most, so connections bound them), since dropping them would corrupt presence."""

BATCH = 500

# Dedup keys live 300 s: far longer than any retry, short enough to cost little memory.
# Messages and actions also go into the "said" stream, trimmed on its own: however many joins and
# leaves fill the room's stream, a process starting later still finds the last messages there.
# KEYS: counter, stream, presence, dedup, said.
# ARGV: kind, record, floor, maxlen, process, conn, nick key, old nick key, member record, and
# "1" when a leave is the last of its member's rooms (a departure is one leave per room, each
# with its id: only the last one frees the nick).
# Returns {0, id} published, {1, id} already published (a retry), {2, reason} refused.
PUBLISH = """
local done = redis.call('GET', KEYS[4])
if done then return {1, tonumber(done)} end
local kind, proc, conn, key, oldkey = ARGV[1], ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local function holder(k)
  local v = redis.call('HGET', KEYS[3], k)
  if not v then return nil end
  local m = cjson.decode(v)
  return m.proc == proc and tostring(m.conn) == conn
end
if kind == 'join' or kind == 'nick' then
  if holder(key) == false then return {2, 'taken'} end
elseif not holder(key) then
  return {2, 'absent'}
end
local id = redis.call('INCR', KEYS[1])
local floor = tonumber(ARGV[3])
if id <= floor then
  id = floor + 1
  redis.call('SET', KEYS[1], id)
end
local t = redis.call('TIME')
local ts = t[1] .. '.' .. string.format('%06d', tonumber(t[2]))
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[4], id .. '-0', 'e', ARGV[2], 'ts', ts)
if kind == 'message' or kind == 'action' or kind == 'topic' then
  redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[4], id .. '-0', 'e', ARGV[2], 'ts', ts)
end
if kind == 'nick' and holder(oldkey) then redis.call('HDEL', KEYS[3], oldkey) end
if kind == 'join' or kind == 'nick' then redis.call('HSET', KEYS[3], key, ARGV[9]) end
if kind == 'leave' and ARGV[10] == '1' then redis.call('HDEL', KEYS[3], key) end
redis.call('SET', KEYS[4], id, 'EX', 300)
return {0, id}
"""

# A private event for another process's member, into that process's inbox stream (which
# expires an hour after its last use, so a dead process's inbox does not linger).
# KEYS: dedup, inbox. ARGV: record, member.
FORWARD = """
if redis.call('SET', KEYS[1], 1, 'NX', 'EX', 300) then
  redis.call('XADD', KEYS[2], 'MAXLEN', '~', 1000, '*', 'e', ARGV[1], 'to', ARGV[2])
  redis.call('EXPIRE', KEYS[2], 3600)
end
return 1
"""

# After Redis lost its data (a restart without persistence, a failover to a lagging replica):
# put this process's members back, and never let the counter go below an id already delivered.
# KEYS: presence, counter. ARGV: floor, then pairs of nick key and member record.
RESTORE = """
local c = tonumber(redis.call('GET', KEYS[2]) or '0')
if c < tonumber(ARGV[1]) then redis.call('SET', KEYS[2], ARGV[1]) end
for i = 2, #ARGV, 2 do redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1]) end
return 1
"""


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event waiting to be sent; ``uid`` names it for the dedup key. A private event for
    another process's member has ``member`` (their connection id) and ``target`` (the process)."""

    event: Event
    uid: str
    member: int | None = None
    target: str = ""


class Backoff:
    """Exponential delays with jitter, from ``first`` up to ``most`` seconds."""

    def __init__(self, first: float = 0.1, most: float = 2.0) -> None:
        self.first, self.most = first, most
        self.delay = first

    async def sleep(self) -> None:
        await asyncio.sleep(self.delay * random.uniform(0.8, 1.2))
        self.delay = min(self.delay * 2, self.most)

    def reset(self) -> None:
        self.delay = self.first


class RedisBus:
    """The bus for a room shared by several processes through Redis (``REDIS_URL``)."""

    engine = "redis"

    def __init__(
        self,
        url: str,
        room: str = "main",
        history: History | None = None,
        heartbeat: float = 3.0,
        queue_limit: int = 200,
        block_ms: int = 5000,
    ) -> None:
        self.history = history if history is not None else History()
        self.process = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.heartbeat = heartbeat
        self.expiry_ms = int(heartbeat * 3000 + 1000)
        self.queue_limit = queue_limit
        self.block_ms = block_ms
        self.where = _redacted(url)
        # Commands get one immediate retry on a fresh connection (a pooled one may be stale after
        # a Redis restart); the tail gets none, so stopping can cut its blocking read short.
        # Beyond that our loops retry, with backoff and a degraded notice.
        self._redis = _client(url, retries=1, block_ms=block_ms)
        self._tail = _client(url, retries=0, block_ms=block_ms)
        prefix = room_prefix(room)
        self._prefix = prefix
        self._counter, self._stream, self._presence = prefix + "counter", prefix + "stream", prefix + "presence"
        self._said = prefix + "said"
        self._inbox = self._inbox_of(self.process)
        self._publish = self._redis.register_script(PUBLISH)
        self._forward = self._redis.register_script(FORWARD)
        self._restore = self._redis.register_script(RESTORE)
        self._deliver: Deliver | None = None
        self._listener: Listener | None = None
        self._queue: deque[Outgoing] = deque()
        self._queued_chat = 0
        self._reaping: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._degraded = False
        self._stopping = False  # the client may turn a cancellation into an error: loops check this
        self._last_id = 0
        self._assigned = 0
        self._stream_from = "0-0"
        self._inbox_from = "0-0"

    # -- Bus -----------------------------------------------------------------------------------

    @property
    def last_id(self) -> int:
        return self._last_id

    @property
    def persisted_id(self) -> int | None:
        """Delivered events are in Redis; how safely depends on Redis's persistence settings."""
        return self._last_id

    @property
    def degraded(self) -> bool:
        return self._degraded

    @property
    def unsent(self) -> int:
        return len(self._queue)

    @property
    def problem(self) -> str | None:
        return f"cannot reach Redis at {self.where}" if self._degraded else None

    async def start(self, deliver: Deliver, listener: Listener | None = None) -> None:
        """Read a consistent snapshot (recent history and presence), then tail from its end."""
        self._deliver, self._listener = deliver, listener
        try:
            await self._redis.set(self._proc_key(self.process), 1, px=self.expiry_ms)
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.xrevrange(self._stream, count=max(1, self.history.capacity))
                pipe.xrevrange(self._said, count=max(1, self.history.capacity))
                pipe.hgetall(self._presence)
                entries, said, presence = await pipe.execute()
        except UNREACHABLE as problem:
            raise SystemExit(f"cannot reach Redis at {self.where}: {problem}") from None
        events: dict[int, Event] = {}
        for entry_id, fields in [*said, *entries]:
            with _skipping_unreadable():
                event = read_entry(entry_id, fields)
                events[event.id] = event
        self.history.restore(sorted(events.values(), key=lambda event: event.id))
        self._stream_from = entries[0][0] if entries else "0-0"
        self._last_id = self.history.last_id
        if listener is not None:
            listener.remote_members([m for m in _members(presence.values()) if m.process != self.process])
        log.info("room shared through Redis at %s as process %s, from id %d", self.where, self.process, self._last_id)
        for job in (self._publish_forever, self._tail_forever, self._beat_forever):
            task = asyncio.create_task(job(), name=f"redis-{job.__name__}")
            task.add_done_callback(_report_crash)
            self._tasks.append(task)

    def publish(self, event: Event) -> None:
        if not event.process:
            event = replace(event, process=self.process)
        self._enqueue(Outgoing(event, uuid4().hex))

    def forget(self, room: str) -> None:
        """Only this process's copy: the shared stream is trimmed by length, not by room."""
        self.history.forget(room)

    def forward(self, process: str, member: int, event: Event) -> None:
        self._enqueue(Outgoing(replace(event, process=self.process), uuid4().hex, member, process))

    async def stop(self) -> None:
        """Stop the tasks, send what is queued (the leaves of this process's users) if Redis
        answers quickly, and drop this process's heartbeat so others reap what remains."""
        self._stopping = True
        self._wake.set()
        for task in self._tasks:
            task.cancel()
        blocked = (await asyncio.wait(self._tasks, timeout=0.5))[1] if self._tasks else set()
        if blocked:  # a cancelled XREAD BLOCK can go on blocking inside redis-py: cut its connection
            await self._tail.connection_pool.disconnect()
            await asyncio.wait(blocked, timeout=1)
        running = any(not task.done() for task in self._tasks)  # then it still owns the queue
        self._tasks.clear()
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(2):
                while self._queue and not self._degraded and not running:
                    await self._send_batch()
                await self._redis.delete(self._proc_key(self.process))
        await self._redis.aclose()
        await self._tail.aclose()

    # -- publishing ------------------------------------------------------------------------------

    def _enqueue(self, item: Outgoing) -> None:
        chat = item.event.kind in QUEUED_KINDS
        if chat and self._degraded and self._queued_chat >= self.queue_limit:
            if self._listener is not None:
                self._listener.refused(item.event, "full")
            return
        self._queue.append(item)
        self._queued_chat += chat
        self._wake.set()

    async def _publish_forever(self) -> None:
        """Send queued events in order, one pipeline per batch; owns recovery after an outage."""
        backoff = Backoff()
        while not self._stopping:
            if self._degraded:
                try:
                    await self._rejoin()
                except UNREACHABLE:
                    await backoff.sleep()
                    continue
                backoff.reset()
                self._set_degraded(False)
            if not self._queue:
                self._wake.clear()
                await self._wake.wait()
                continue
            try:
                await self._send_batch()
            except UNREACHABLE as problem:
                self._set_degraded(True, problem)

    async def _send_batch(self) -> None:
        batch = list(itertools.islice(self._queue, BATCH))
        async with self._redis.pipeline(transaction=False) as pipe:
            for item in batch:
                if item.member is None:
                    await self._publish(keys=self._publish_keys(item), args=self._publish_args(item), client=pipe)
                else:
                    keys = [self._dedup_key(item.uid), self._inbox_of(item.target)]
                    await self._forward(keys=keys, args=[event_record(item.event), item.member], client=pipe)
            results = await pipe.execute(raise_on_error=False)
        for item, result in zip(batch, results, strict=True):
            self._queue.popleft()
            self._queued_chat -= item.event.kind in QUEUED_KINDS
            self._reaping.discard(item.uid)
            if isinstance(result, Exception):
                log.error("Redis refused %s event: %s", item.event.kind.value, result)
            elif item.member is None:
                self._published(item.event, result)

    def _published(self, event: Event, result: list[int | str]) -> None:
        status, value = result
        if status == 2:
            if self._listener is not None and event.process == self.process:
                self._listener.refused(event, str(value))
        else:
            self._assigned = max(self._assigned, int(value))

    def _publish_keys(self, item: Outgoing) -> list[str]:
        return [self._counter, self._stream, self._presence, self._dedup_key(item.uid), self._said]

    def _publish_args(self, item: Outgoing) -> list[str | int]:
        event = item.event
        member = ""
        if event.kind in (Kind.JOIN, Kind.NICK) and event.gateway is not None:
            member = member_record(event.nick, event.gateway, event.process, event.origin)
        return [
            event.kind.value,
            event_record(event),
            max(self._last_id, self._assigned),
            max(1, self.history.capacity),
            event.process,
            event.origin,
            nick_key(event.nick),
            nick_key(event.old) if event.old else "",
            member,
            "1" if event.kind is Kind.LEAVE and (not event.spans or event.room == event.spans[-1]) else "0",
        ]

    async def _rejoin(self) -> None:
        """Back after an outage: heartbeat, and restore presence and counter if Redis lost them."""
        await self._redis.set(self._proc_key(self.process), 1, px=self.expiry_ms)
        args: list[str | int] = [max(self._last_id, self._assigned)]
        for member in self._listener.local_members() if self._listener is not None else []:
            args += [nick_key(member.nick), member_record(member.nick, member.gateway, self.process, member.id)]
        await self._restore(keys=[self._presence, self._counter], args=args)

    # -- tailing ---------------------------------------------------------------------------------

    async def _tail_forever(self) -> None:
        """Deliver the room's stream and this process's inbox, from the last entries seen."""
        backoff = Backoff()
        while not self._stopping:
            try:
                streams = {self._stream: self._stream_from, self._inbox: self._inbox_from}
                reply = await self._tail.xread(streams, count=1000, block=self.block_ms)
            except UNREACHABLE as problem:
                self._set_degraded(True, problem)
                await backoff.sleep()
                continue
            backoff.reset()
            for name, entries in reply or []:
                if name == self._stream:
                    self._deliver_entries(entries)
                else:
                    self._deliver_private(entries)

    def _deliver_entries(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        for entry_id, fields in entries:
            self._stream_from = entry_id
            event = None
            with _skipping_unreadable():
                event = read_entry(entry_id, fields)
            if event is None or event.id <= self._last_id:
                continue  # never deliver an id twice, whatever happened to the stream
            self._last_id = event.id
            self.history.append(event)
            if self._deliver is not None:
                try:
                    self._deliver(event)
                except Exception:  # a bug in delivery must not stop this process hearing the room
                    log.exception("delivering #%d failed", event.id)

    def _deliver_private(self, entries: list[tuple[str, dict[str, str]]]) -> None:
        for entry_id, fields in entries:
            self._inbox_from = entry_id
            private = None
            with _skipping_unreadable():
                private = read_event(fields["e"]), int(fields["to"])
            if private is not None and self._listener is not None:
                self._listener.forwarded(private[1], private[0])

    # -- heartbeat and janitor ---------------------------------------------------------------------

    async def _beat_forever(self) -> None:
        """Say this process is alive, and reap the members of processes that are not."""
        while not self._stopping:
            await asyncio.sleep(self.heartbeat)
            if self._degraded:
                continue
            try:
                await self._redis.set(self._proc_key(self.process), 1, px=self.expiry_ms)
                await self._reap()
            except UNREACHABLE as problem:
                self._set_degraded(True, problem)

    async def _reap(self) -> None:
        """Publish a leave for each member whose process's heartbeat has expired. Every process
        does this; the dedup key (and the presence check) lets exactly one leave through."""
        members = list(_members((await self._redis.hgetall(self._presence)).values()))
        others = sorted({m.process for m in members if m.process != self.process})
        if not others:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for process in others:
                pipe.exists(self._proc_key(process))
            dead = {p for p, up in zip(others, await pipe.execute(), strict=True) if not up}
        for member in members:
            uid = f"reap:{member.process}:{member.conn}:{nick_key(member.nick)}"
            if member.process in dead and uid not in self._reaping:
                self._reaping.add(uid)
                event = Event(
                    Kind.LEAVE,
                    nick=member.nick,
                    text="connection lost",
                    gateway=member.gateway,
                    origin=member.conn,
                    process=member.process,
                )
                self._enqueue(Outgoing(event, uid))

    # -- state ---------------------------------------------------------------------------------

    def _set_degraded(self, degraded: bool, problem: BaseException | None = None) -> None:
        if degraded == self._degraded or self._stopping:
            return
        self._degraded = degraded
        self._wake.set()
        if degraded:
            log.warning("Redis at %s unreachable (%s): room degraded, queueing locally", self.where, problem)
            if self._listener is not None:
                self._listener.degraded()
        else:
            log.warning("Redis at %s reachable again: sending %d queued events", self.where, len(self._queue))
            if self._listener is not None:
                self._listener.recovered()

    def _proc_key(self, process: str) -> str:
        return f"{self._prefix}proc:{process}"

    def _inbox_of(self, process: str) -> str:
        return f"{self._prefix}inbox:{process}"

    def _dedup_key(self, uid: str) -> str:
        return f"{self._prefix}dedup:{uid}"


def room_prefix(room: str) -> str:
    """The start of every key of a room: a hash tag, so they all live in one cluster slot."""
    return f"chat:{{{room}}}:"


def _client(url: str, retries: int, block_ms: int) -> Redis:
    return Redis.from_url(
        url,
        decode_responses=True,
        socket_connect_timeout=2,
        socket_timeout=block_ms / 1000 + 5,
        retry=Retry(NoBackoff(), retries),
    )


def _members(records: object) -> list[RemoteMember]:
    members = []
    for record in records:  # type: ignore[attr-defined]
        with _skipping_unreadable():
            members.append(read_member(record))
    return members


@contextlib.contextmanager
def _skipping_unreadable():  # type: ignore[no-untyped-def]
    """A record another program wrote into our keys is logged and skipped, never fatal."""
    try:
        yield
    except (RecordError, KeyError, ValueError) as problem:
        log.warning("skipping a record in Redis: %s", problem)


def _report_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("Redis bus task %s stopped", task.get_name(), exc_info=task.exception())


def _redacted(url: str) -> str:
    """The URL without its password, for logs and errors."""
    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    return f"{parts.scheme}://{host}:{parts.port or 6379}{parts.path}"

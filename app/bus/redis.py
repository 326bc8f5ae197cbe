"""The shared bus: every room, its order, history and members, across processes, through Redis.

Each room is a Redis Stream of its own under the room's hash tag (``app.bus.redis_keys``), with
its own counter: one script gives an event the room's next id and Redis's time and appends it,
so a room's ids are one increasing integer whichever process published. Server-wide state (who
holds which nick, heartbeats, private inboxes, the room registry) lives under the namespace's own
tag and changes in steps of its own (``app.bus.redis_scripts``). Rooms therefore spread over the
shards of a Redis Cluster, and on a single Redis nothing changes but the key names.

Every process follows every room: a room's script rings a doorbell (pub/sub, which a cluster
carries to every node) naming the room, and the process reads that stream from the last entry it
delivered. Doorbells are only hints: a missed one is caught by reading every room again whenever
the subscription comes back and at every heartbeat, so nothing is lost while a connection blips.

When Redis cannot be reached the server is *degraded*: local users stay connected, publishing
queues locally (chat messages up to a bound), and the tasks retry with backoff; on recovery the
queue is sent, in order within each room, and reading resumes from each room's last entry.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from enum import Enum
from urllib.parse import urlsplit
from uuid import uuid4

from redis.asyncio import RedisCluster
from redis.asyncio.client import PubSub
from redis.exceptions import (
    RedisError,
    ResponseError,
)

from app.bus.base import Deliver, Listener
from app.bus.history import Gap, History, Ids, Loss
from app.bus.records import RecordError, event_record, member_record, read_entry, read_event, read_member
from app.bus.redis_connect import Client, bell_urls, connect, listener
from app.bus.redis_keys import Keys
from app.bus.redis_pipelines import UNREACHABLE, Backoff, Pipelines, unreachable
from app.bus.redis_scripts import CLAIM, FORWARD, PUBLISH, RELEASE, RESTORE, UNREGISTER, Published
from app.bus.redis_upgrade import carry_over
from app.domain.events import Event, Kind
from app.domain.nicks import nick_key
from app.domain.room import RemoteMember
from app.domain.rooms import RoomError, room_name

log = logging.getLogger("app.redis")

QUEUED_KINDS = frozenset({Kind.MESSAGE, Kind.ACTION, Kind.PRIVATE})
"""What is refused beyond the bound while degraded; join, leave and nick always queue (one per
connection at most, so connections bound them), since dropping them would corrupt presence."""

CLAIMING = frozenset({Kind.JOIN, Kind.NICK, Kind.ENTER})
"""Events that hold a nick on the server before they go into their room (an entry checks that the
nick is still the member's: a room's member record must never name someone else's)."""

ARRIVING = frozenset({Kind.JOIN, Kind.ENTER})
EXITING = frozenset({Kind.LEAVE, Kind.PART})

BATCH = 500
READ = 1000
"""Stream entries read per room in one go; a room with more is read again at once."""

CLOCK_MARGIN = 5.0
"""Seconds by which clocks may disagree (Redis's nodes, the processes' machines): a room heard of
late delivers what happened this long before the process started too, rather than miss it."""

INBOX = "@"
ROOM_PREFIX = "#"
EVERY_LANE = "*"
"""In the stuck lanes: all of them, until a rejoin says which rooms are back."""
FREEING = "!"
"""The start of the lane of an item that frees a nick (a room's name starts with "#")."""
"""What a doorbell names for a process's inbox (a room's name starts with "#")."""


class Trouble(Enum):
    """A part of Redis this process cannot use right now: it is degraded while any is, and each
    part says itself when it works again (so the notices do not flap)."""

    SENDING = "sending"  # publishing and heartbeats: over once this process's state is put back
    READING = "reading"  # a room's stream did not answer
    LISTENING = "listening"  # the doorbells' subscription is down


@dataclass(frozen=True, slots=True)
class Outgoing:
    """An event waiting to be sent; ``uid`` names it for the dedup key. A private event for
    another process's member has ``member`` (their connection id) and ``target`` (the process).
    Freeing a nick is an item of its own (``frees``: the nick key; ``of``: the uid of the event
    that frees it), sent once every room of its departure or nick change has its event."""

    event: Event
    uid: str
    member: int | None = None
    target: str = ""
    frees: str = ""
    of: str = ""
    queued: float = field(default_factory=time.time)
    """When it was published here: an arrival's time in the room registry, so that a room this
    process forgets after its last arrival leaves the registry however late the arrival was sent."""

    @property
    def claims(self) -> bool:
        return self.member is None and not self.frees and self.event.kind in CLAIMING

    @property
    def in_room(self) -> bool:
        return self.member is None and not self.frees


def freed_by(event: Event) -> str:
    """The nick key an event frees once every room it spans has it: a departure's last leave (one
    leave per room, each with its id) frees the nick, a nick change's last room the old one."""
    if not event.completes:
        return ""
    if event.kind is Kind.LEAVE:
        return nick_key(event.nick)
    if event.kind is Kind.NICK and event.old and nick_key(event.old) != nick_key(event.nick):
        return nick_key(event.old)
    return ""


Entries = list[tuple[str, dict[str, str]]]


@dataclass(frozen=True, slots=True)
class RoomState:
    """What a room's keys held when read: its latest stream entries (newest first), its latest
    messages, and its members' records."""

    entries: Entries
    said: Entries
    members: dict[str, str]

    def events(self, before: float = math.inf) -> list[Event]:
        """Its readable events from before ``before`` (Redis's time), each once, in id order."""
        kept = {event.id: event for event in _events([*self.said, *self.entries]) if event.ts < before}
        return sorted(kept.values(), key=lambda event: event.id)


@dataclass(slots=True)
class Cursor:
    """How far this process has read a room: the last stream entry and the last id delivered,
    and the highest id Redis gave an event of ours (the floor if Redis loses its counter)."""

    entry: str = "0-0"
    last_id: int = 0
    assigned: int = 0

    @property
    def floor(self) -> int:
        return max(self.last_id, self.assigned)


class RedisBus:
    """The bus for rooms shared by several processes through Redis or a Redis Cluster (``REDIS_URL``)."""

    engine = "redis"

    def __init__(
        self,
        url: str,
        namespace: str = "main",
        history: History | None = None,
        heartbeat: float = 3.0,
        queue_limit: int = 200,
        max_rooms: int = 1000,
    ) -> None:
        self.history = history if history is not None else History(ids=Ids.ROOM)
        self.process = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.heartbeat = heartbeat
        self.expiry_ms = int(heartbeat * 3000 + 1000)
        self.queue_limit = queue_limit
        self.max_rooms = max_rooms
        self.url = url
        self.where = _redacted(url)
        self.keys = Keys(namespace)
        self._redis: Client | None = None
        self._pipes: Pipelines  # with the client, once connected
        self._deliver: Deliver | None = None
        self._listener: Listener | None = None
        self._queue: deque[Outgoing] = deque()
        self._rejoining: asyncio.Task[bool] | None = None
        self._taken: set[str] = set()
        """Claims refused lately: their nick change frees no nick."""
        self._stuck: set[str] = set()
        """Rooms (and ``INBOX``) whose events did not get through lately: passed over until the
        next retry, so the others go on."""
        self._queued_chat = 0
        self._reaping: set[str] = set()
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._troubles: set[Trouble] = set()
        self._stopping = False  # the client may turn a cancellation into an error: loops check this
        self._rooms: dict[str, Cursor] = {}
        self._dirty: set[str] = set()
        """Rooms (and ``INBOX``) whose streams may hold entries not read yet."""
        self._unreadable: set[str] = set()
        """Marked rooms whose shard did not answer: left until the next retry, so the others go on."""
        self._discovered: set[str] = set()
        """Rooms this process has just heard of (a doorbell, the registry), to load before reading."""
        self._started = 0.0
        """Redis's time when this process took its snapshot: a room heard of later delivers what
        happened since (nobody here saw it), and keeps what came before as history."""
        self._swept = 0.0
        """When the registry was last looked through for rooms whose doorbell went astray."""
        self._ring = asyncio.Event()
        self._inbox_from = "0-0"
        self._subscription: PubSub | None = None
        self._where: dict[tuple[str, int], set[str]] = {}
        """The rooms each member of another process is in: where to publish its leaves if its
        process dies."""
        self._forgotten: dict[str, float] = {}
        """Rooms this process forgot (empty, nothing worth keeping) and when: to take out of the
        registry with the next heartbeat."""

    # -- Bus -----------------------------------------------------------------------------------

    @property
    def last_id(self) -> int:
        """The highest id delivered in any room (each room numbers its own events)."""
        return max((cursor.last_id for cursor in self._rooms.values()), default=0)

    @property
    def persisted_id(self) -> int | None:
        """Delivered events are in Redis; how safely depends on Redis's persistence settings."""
        return self.last_id

    @property
    def degraded(self) -> bool:
        return bool(self._troubles)

    @property
    def unsent(self) -> int:
        return len(self._queue)

    @property
    def problem(self) -> str | None:
        return f"cannot reach Redis at {self.where}" if self._troubles else None

    async def start(self, deliver: Deliver, listener: Listener | None = None) -> None:
        """Subscribe to the doorbells, then read a snapshot of every known room (recent history,
        members) and of the server's presence, then follow each room from its snapshot's end."""
        self._deliver, self._listener = deliver, listener
        try:
            self._redis = await connect(self.url)
            self._pipes = Pipelines(self._redis, (CLAIM, RELEASE, PUBLISH, FORWARD, RESTORE, UNREGISTER))
            await self._pipes.load_scripts()
            await carry_over(self._redis, self.keys, self.history.default, self.process)
            self._subscription = await self._subscribe()
            await self._redis.set(self.keys.heartbeat(self.process), 1, px=self.expiry_ms)
            await self._snapshot()
        except UNREACHABLE as problem:
            raise SystemExit(f"cannot reach Redis at {self.where}: {problem}") from None
        kind = "a Redis Cluster" if isinstance(self._redis, RedisCluster) else "Redis"
        rooms = len(self._rooms)
        log.info("rooms shared through %s at %s as process %s, %d rooms", kind, self.where, self.process, rooms)
        for job in (self._publish_forever, self._tail_forever, self._listen_forever, self._beat_forever):
            task = asyncio.create_task(job(), name=f"redis-{job.__name__}")
            task.add_done_callback(_report_crash)
            self._tasks.append(task)

    def publish(self, event: Event) -> None:
        if not event.process:
            event = replace(event, process=self.process)
        self._enqueue_event(event, uuid4().hex)

    def forget(self, room: str) -> None:
        """This process's copy, and the room's place in the registry (with the next heartbeat,
        unless someone arrives in it first): each room's stream is trimmed by length in Redis."""
        self.history.forget(room)
        self._forgotten[room] = time.time()

    def forward(self, process: str, member: int, event: Event) -> None:
        self._enqueue(Outgoing(replace(event, process=self.process), uuid4().hex, member, process))

    def after_delivered(self, callback: Callable[[], None]) -> None:
        """At once: an event published here comes back after a Redis round trip, which a reply
        does not wait for (as between processes, the order is the room's, not the replies')."""
        callback()

    async def stop(self) -> None:
        """Stop the tasks, send what is queued (the leaves of this process's users) if Redis
        answers quickly, and drop this process's heartbeat so others reap what remains."""
        self._stopping = True
        self._wake.set()
        self._ring.set()
        for task in [*self._tasks, *([self._rejoining] if self._rejoining is not None else [])]:
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=1)
        running = any(not task.done() for task in self._tasks)  # then it still owns the queue
        self._tasks.clear()
        if self._subscription is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._subscription.aclose()
        if self._redis is None:
            return
        with contextlib.suppress(RedisError, OSError, TimeoutError):
            async with asyncio.timeout(2):
                while self._queue and Trouble.SENDING not in self._troubles and not running:
                    await self._send_batch()
                await self._redis.delete(self.keys.heartbeat(self.process))
        await self._redis.aclose()

    # -- start-up ---------------------------------------------------------------------------------

    async def _snapshot(self) -> None:
        """The default room and the most recently entered others, each read stream first, members
        second (a member whose join is read later again is simply known twice)."""
        assert self._redis is not None
        default = self.history.default
        seconds, micros = await self._redis.time()
        self._started, self._swept = seconds + micros / 1e6, time.time()
        names = await self._redis.zrevrange(self.keys.rooms, 0, self.max_rooms - 1)
        states = await self._read_rooms([default, *(name for name in names if name != default)])
        presence = await self._redis.hgetall(self.keys.presence)
        restored: list[Event] = []
        others: dict[str, set[str]] = {}
        for name, state in states.items():
            if isinstance(state, BaseException):
                raise state
            events = state.events()
            restored += events
            self._rooms[name] = Cursor(state.entries[0][0] if state.entries else "0-0", events[-1].id if events else 0)
            if keys := self._note_members(name, state.members.values()):
                others[name] = keys
        self.history.restore(restored)
        if self._listener is not None:
            present = [m for m in _members(presence.values()) if m.process != self.process]
            self._listener.remote_members(present, others)

    async def _read_rooms(self, rooms: list[str]) -> dict[str, RoomState | BaseException]:
        """What each room's keys hold now (stream first, members last), or why they could not be read."""
        reads = [(room, kind) for room in rooms for kind in ("stream", "said", "members")]

        def read(pipe: Client, index: int) -> None:
            room, kind = reads[index]
            keys, count = self.keys.room(room), max(1, self.history.capacity_of(room))
            if kind == "members":
                pipe.hgetall(keys.members)
            else:
                pipe.xrevrange(keys.stream if kind == "stream" else keys.said, count=count)

        replies = await self._pipes.each([self.keys.room(room).stream for room, _ in reads], read)
        states: dict[str, RoomState | BaseException] = {}
        for index, room in enumerate(rooms):
            entries, said, members = replies[3 * index : 3 * index + 3]
            failed = next((reply for reply in (entries, said, members) if isinstance(reply, BaseException)), None)
            states[room] = failed if failed is not None else RoomState(entries, said, members)  # type: ignore[arg-type]
        return states

    # -- publishing ------------------------------------------------------------------------------

    def _enqueue_event(self, event: Event, uid: str) -> None:
        """A public event, and after it the nick it frees, if any."""
        self._enqueue(Outgoing(event, uid))
        if frees := freed_by(event):
            self._enqueue(Outgoing(event, f"{uid}:frees", frees=frees, of=uid))

    def _enqueue(self, item: Outgoing) -> None:
        chat = item.event.kind in QUEUED_KINDS
        if chat and self._troubles and self._queued_chat >= self.queue_limit:
            if self._listener is not None:
                self._listener.refused(item.event, "full")
            return
        self._queue.append(item)
        self._queued_chat += chat
        self._wake.set()

    async def _publish_forever(self) -> None:
        """Send queued events in order within each room, a batch at a time; owns recovery after
        an outage. While part of Redis is unreachable (a shard of a cluster), the rooms that can be
        reached go on, and the process tries, in the background and with backoff, to put back
        what Redis may have lost, room by room."""
        backoff = Backoff()
        retry_at = 0.0
        while not self._stopping:
            if Trouble.SENDING not in self._troubles:
                self._wake.clear()
                if not self._batch():
                    await self._wake.wait()
                    continue
                try:
                    await self._send_batch()
                except UNREACHABLE as problem:
                    self._trouble(Trouble.SENDING, problem)
                continue
            rejoining = self._rejoining
            if rejoining is not None and rejoining.done():
                self._rejoining = None
                if not rejoining.cancelled() and rejoining.exception() is None and rejoining.result():
                    backoff.reset()
                    self._resolved(Trouble.SENDING)
                    continue
                retry_at = time.monotonic() + backoff.next()
            if self._rejoining is None and time.monotonic() >= retry_at:
                self._rejoining = asyncio.create_task(self._rejoin(), name="redis-rejoin")
                self._rejoining.add_done_callback(lambda _: self._wake.set())
            self._wake.clear()
            await self._send_what_can_go()
            if not self._wake.is_set():
                wait = None if self._rejoining is not None else max(0.0, retry_at - time.monotonic())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)

    async def _send_what_can_go(self) -> None:
        """Send batches while they get anywhere: the rooms Redis answers for."""
        while self._queue and not self._stopping:
            queued = len(self._queue)
            with contextlib.suppress(*UNREACHABLE):
                await self._send_batch()
            if len(self._queue) >= queued or not self._batch():
                return

    def _lane(self, item: Outgoing) -> str:
        """What must stay in order: a room's events, the private events, or (for freeing a nick)
        the item alone."""
        if item.frees:
            return FREEING + item.uid
        return INBOX if item.member is not None else self._room_of(item.event)

    def _waits_for(self, item: Outgoing) -> set[str]:
        """The lanes an item goes after: its own, and for freeing a nick every room of its
        departure or nick change (nobody may take a nick a room still shows)."""
        if item.frees:
            return {self._lane(item), *(item.event.spans or (self._room_of(item.event),))}
        return {self._lane(item)}

    def _batch(self) -> list[Outgoing]:
        """The next items to send together: up to ``BATCH``, passing over the rooms whose events
        did not get through lately (in their order, they wait, and so does freeing a nick one of
        them shows), and ending before a claim that follows a freed nick (it may be the one the
        next arrival asks for)."""
        batch: list[Outgoing] = []
        if EVERY_LANE in self._stuck:
            return batch
        freed = False
        for item in self._queue:
            if len(batch) == BATCH or (item.claims and freed):
                break
            if self._stuck and self._stuck & self._waits_for(item):
                continue
            batch.append(item)
            freed = freed or bool(item.frees)
        return batch

    async def _send_batch(self) -> None:
        """A batch in three pipelines: server-wide steps that must come first (claims, private
        events, room registrations), each room's events in order, then the nicks freed. Every step
        is idempotent, so an item one of whose steps did not reach Redis stays queued, whole, with
        everything after it in its room; the rest is done (then this raises, for the degraded mode)."""
        batch = self._batch()
        position = {item.uid: index for index, item in enumerate(batch)}
        stops: dict[str, int] = {}  # per lane, the first item that did not get through
        problems: list[BaseException] = []

        def through(item: Outgoing) -> bool:
            return all(position[item.uid] < stops.get(lane, len(batch)) for lane in self._waits_for(item))

        def note(items: list[Outgoing], results: list[object]) -> None:
            for item, result in zip(items, results, strict=True):
                if unreachable(result):
                    lane = self._lane(item)
                    stops[lane] = min(stops.get(lane, len(batch)), position[item.uid])
                    problems.append(result)  # type: ignore[arg-type]

        before = [item for item in batch if item.member is not None or item.claims]
        claimed = await self._run(before, self._step_before, self._server_key)
        note(before, claimed)
        taken = {item.uid for item, result in zip(before, claimed, strict=True) if result == "taken"}
        self._taken.update(item.uid for item in before if item.uid in taken and freed_by(item.event))
        in_rooms = [item for item in batch if item.in_room and item.uid not in taken and through(item)]
        published = await self._run(in_rooms, self._step_in_room, self._room_key)
        note(in_rooms, published)
        freeing = [item for item in batch if item.frees and item.of not in self._taken and through(item)]
        note(freeing, await self._run(freeing, self._step_after, self._server_key))

        done = [item for item in batch if through(item)]
        refusals = [(item.event, "taken") for item in done if item.uid in taken]
        for item, result in zip(in_rooms, published, strict=True):
            if through(item):
                self._published(item.event, result, refusals)
        self._drop(done, prefix=not self._stuck and len(done) == len(batch))
        if self._listener is not None:
            for event, reason in refusals:
                if event.process == self.process:
                    self._listener.refused(event, reason)
        if problems:
            self._stuck.update(stops)
            raise problems[0]

    def _drop(self, done: list[Outgoing], prefix: bool) -> None:
        """Take sent items out of the queue (``prefix``: they are its first ones, the usual case)."""
        if prefix:
            for _ in done:
                self._queue.popleft()
        else:
            gone = {item.uid for item in done}
            self._queue = deque(item for item in self._queue if item.uid not in gone)
        for item in done:
            self._queued_chat -= item.event.kind in QUEUED_KINDS and not item.frees
            self._reaping.discard(item.uid)
            self._taken.discard(item.of)

    async def _run(self, items: list[Outgoing], step, key) -> list[object]:  # type: ignore[no-untyped-def]
        """``step`` for each item, pipelined per node of ``key(item)``, and each one's result: what
        Redis answered, its refusal (logged), or why it did not reach Redis. Scripts Redis does
        not know (a node restarted) are loaded and the lot sent again."""
        results = await self._pipes.scripted(
            [key(item) for item in items], lambda pipe, index: step(items[index], pipe)
        )
        for item, result in zip(items, results, strict=True):
            if isinstance(result, ResponseError) and not unreachable(result):
                log.error("Redis refused %s event: %s", item.event.kind.value, result)
        return results

    def _server_key(self, item: Outgoing) -> str:
        return self.keys.presence

    def _room_key(self, item: Outgoing) -> str:
        return self.keys.room(self._room_of(item.event)).stream

    def _step_before(self, item: Outgoing, pipe: Client) -> None:
        event = item.event
        if item.member is not None:
            record = event_record(event)
            keys = [self.keys.dedup(item.uid), self.keys.inbox(item.target)]
            self._pipes.call(pipe, FORWARD, keys, [record, item.member, self.keys.bell, INBOX + item.target])
        else:
            keys = [self.keys.presence, self.keys.rooms]
            room = self._room_of(event) if event.kind in ARRIVING else ""
            args = [nick_key(event.nick), self._member(event), event.process, event.origin, room, item.queued]
            self._pipes.call(pipe, CLAIM, keys, args)

    def _step_in_room(self, item: Outgoing, pipe: Client) -> None:
        event = item.event
        room = self._room_of(event)
        keys = self.keys.room(room)
        cursor = self._rooms.get(room) or Cursor()
        args = [
            event.kind.value,
            event_record(event),
            cursor.floor,
            max(1, self.history.capacity_of(room)),
            event.process,
            event.origin,
            nick_key(event.nick),
            nick_key(event.old) if event.old else "",
            self._member(event) if event.kind in (*ARRIVING, Kind.NICK) else "",
            room,
            self.keys.bell,
        ]
        self._pipes.call(
            pipe, PUBLISH, [keys.counter, keys.stream, keys.said, keys.members, keys.dedup(item.uid)], args
        )

    def _step_after(self, item: Outgoing, pipe: Client) -> None:
        event = item.event
        self._pipes.call(pipe, RELEASE, [self.keys.presence], [item.frees, event.process, event.origin])

    def _published(self, event: Event, result: object, refusals: list[tuple[Event, str]]) -> None:
        if not isinstance(result, list):
            return
        status, value = result
        if status == Published.REFUSED:
            refusals.append((event, str(value)))
        elif (cursor := self._rooms.get(self._room_of(event))) is not None:  # else its doorbell will say
            cursor.assigned = max(cursor.assigned, int(value))

    async def _rejoin(self) -> bool:
        """Back after an outage: heartbeat, and put back what Redis may have lost — this process's
        members (on the server and in each of their rooms), each room's counter floor and its
        place in the registry. Whether all of Redis answered; rooms whose part went through are
        sent to again at once."""
        assert self._redis is not None
        rooms = {name: [cursor.floor] for name, cursor in self._rooms.items()}
        for lane in self._stuck:
            if lane.startswith(ROOM_PREFIX):
                rooms.setdefault(lane, [0])
        present: list[str | int] = [0]
        for member in self._listener.local_members() if self._listener is not None else []:
            pair = [nick_key(member.nick), member_record(member.nick, member.gateway, self.process, member.id)]
            present += pair
            for name in self._listener.rooms_of(member.id) if self._listener is not None else ():
                rooms.setdefault(name, [0]).extend(pair)
        names, args = ["", *rooms], [present, *rooms.values()]
        keys = [[self.keys.presence], *([room.members, room.counter] for room in map(self.keys.room, rooms))]
        restored = await self._pipes.scripted(
            [k[0] for k in keys], lambda pipe, i: self._pipes.call(pipe, RESTORE, keys[i], args[i])
        )
        back = {name for name, result in zip(names, restored, strict=True) if not isinstance(result, Exception)}
        server = "" in back
        if server:
            try:
                async with self._redis.pipeline(transaction=False) as pipe:
                    pipe.set(self.keys.heartbeat(self.process), 1, px=self.expiry_ms)
                    pipe.zadd(self.keys.rooms, dict.fromkeys(rooms, time.time()), nx=True)
                    await pipe.execute()
            except UNREACHABLE:
                server = False
        if EVERY_LANE in self._stuck:  # until now nothing was known to be back
            self._stuck = {*self._rooms, *(self._lane(item) for item in self._queue)}
        self._stuck -= back
        if server:
            self._stuck = {lane for lane in self._stuck if lane != INBOX and not lane.startswith(FREEING)}
        return server and len(back) == len(names)

    # -- following the rooms ---------------------------------------------------------------------

    async def _subscribe(self) -> PubSub:
        """A subscription to the doorbells, on the first node that answers."""
        assert self._redis is not None
        problem: BaseException | None = None
        for url in bell_urls(self.url, self._redis):
            subscription = listener(url).pubsub(ignore_subscribe_messages=True)
            try:
                await subscription.subscribe(self.keys.bell)
                return subscription
            except UNREACHABLE as refusal:
                problem = refusal
                await subscription.aclose()
        raise problem if problem is not None else RedisError("no node to listen on")

    async def _listen_forever(self) -> None:
        """Mark each room whose doorbell rings; after the subscription is back, every room."""
        backoff = Backoff()
        while not self._stopping:
            try:
                if self._subscription is None:
                    self._subscription = await self._subscribe()
                    self._resolved(Trouble.LISTENING)
                    self._ring_all()
                message = await self._subscription.get_message(timeout=1.0)
            except UNREACHABLE as problem:
                if self._subscription is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await self._subscription.aclose()
                self._subscription = None
                self._trouble(Trouble.LISTENING, problem)
                await backoff.sleep()
                continue
            backoff.reset()
            if message is not None and message.get("type") == "message":
                self._rang(str(message["data"]))

    def _rang(self, bell: str) -> None:
        """A doorbell: ``@process`` for an inbox, ``#room id`` for a room's new event."""
        if bell.startswith(INBOX):
            if bell == INBOX + self.process:
                self._dirty.add(INBOX)
                self._ring.set()
            return
        typed = bell.partition(" ")[0]
        try:
            name = room_name(typed)
        except RoomError:
            log.warning("ignoring a doorbell for %r: not a room's name", typed[:40])
            return
        if name not in self._rooms:
            self._discovered.add(name)
        self._dirty.add(name)
        self._ring.set()

    def _ring_all(self) -> None:
        self._dirty.update(self._rooms)
        self._dirty.add(INBOX)
        self._ring.set()

    async def _tail_forever(self) -> None:
        """Read every marked room's stream (and this process's inbox) from its last entry read.
        A room whose shard does not answer is tried again with backoff; the others go on."""
        backoff = Backoff()
        retry_at = 0.0
        while not self._stopping:
            if self._unreadable and time.monotonic() >= retry_at:
                self._unreadable.clear()
            ready = self._dirty - self._unreadable
            if not ready:
                self._ring.clear()
                wait = max(0.0, retry_at - time.monotonic()) if self._unreadable else None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._ring.wait(), wait)
                continue
            marked: list[str] = []
            try:
                loading = sorted(ready & self._discovered)
                if loading and (problem := await self._load_discovered(loading)) is not None:
                    self._trouble(Trouble.READING, problem)
                    retry_at = time.monotonic() + backoff.next()
                marked = sorted(ready.difference(self._discovered))
                self._dirty.difference_update(marked)
                replies = await self._read(marked)
            except UNREACHABLE as problem:
                self._dirty.update(marked)
                self._trouble(Trouble.READING, problem)
                await backoff.sleep()
                continue
            problem = None
            for name, reply in zip(marked, replies, strict=True):
                if isinstance(reply, Exception):
                    if unreachable(reply):
                        self._dirty.add(name)
                        self._unreadable.add(name)
                        problem = reply
                    else:  # read again at the next heartbeat, not in a loop
                        log.error("Redis refused reading %s: %s", name, reply)
                    continue
                entries = reply[0][1] if reply else []
                if len(entries) >= READ:
                    self._dirty.add(name)
                if name == INBOX:
                    self._deliver_private(entries)
                else:
                    self._deliver_entries(name, entries)
            if problem is not None:
                self._trouble(Trouble.READING, problem)
                retry_at = time.monotonic() + backoff.next()
            elif not self._unreadable:
                backoff.reset()
                self._resolved(Trouble.READING)

    async def _load_discovered(self, rooms: list[str]) -> BaseException | None:
        """Rooms new to this process: what happened before it started is history (kept for
        replay), what happened since is delivered; and who is in them, for reaping. A room whose
        shard does not answer stays to be loaded (and is left unread) until it does; why, if so."""
        before = self._started - CLOCK_MARGIN
        problem = None
        for name, state in (await self._read_rooms(rooms)).items():
            if isinstance(state, BaseException):
                problem = state
                self._unreadable.add(name)
                continue
            earlier = state.events(before)
            self.history.restore_room(name, earlier)
            start = next((entry for entry, fields in state.entries if _time_of(fields) < before), "0-0")
            self._rooms[name] = Cursor(start, earlier[-1].id if earlier else 0)
            self._note_members(name, state.members.values())
            self._discovered.discard(name)
        return problem

    def _note_members(self, room: str, records: Iterable[str]) -> set[str]:
        """Remember which of ``room``'s members belong to other processes; their nick keys."""
        keys = set()
        for member in _members(records):
            if member.process != self.process:
                self._where.setdefault((member.process, member.conn), set()).add(room)
                keys.add(nick_key(member.nick))
        return keys

    async def _sweep(self) -> None:
        """Rooms entered lately that this process does not follow (their doorbell went astray)."""
        assert self._redis is not None
        since, self._swept = self._swept, time.time()
        for name in await self._redis.zrangebyscore(self.keys.rooms, since - CLOCK_MARGIN, "+inf"):
            if name not in self._rooms:
                self._rang(name)

    async def _unregister(self) -> None:
        """Take the rooms forgotten lately out of the registry (see ``forget``); those Redis did
        not answer for are tried again with the next heartbeat."""
        forgotten = list(self._forgotten.items())
        if not forgotten:
            return
        keys = [self.keys.rooms]
        results = await self._pipes.scripted(
            keys * len(forgotten), lambda pipe, index: self._pipes.call(pipe, UNREGISTER, keys, forgotten[index])
        )
        for (room, when), result in zip(forgotten, results, strict=True):
            if not unreachable(result) and self._forgotten.get(room) == when:
                del self._forgotten[room]

    async def _read(self, marked: list[str]) -> list[object]:
        """Each marked stream's next entries (as XREAD answers), or why they could not be read."""
        streams = {
            name: (self.keys.inbox(self.process), self._inbox_from)
            if name == INBOX
            else (self.keys.room(name).stream, self._rooms[name].entry)
            for name in marked
        }

        def read(pipe: Client, index: int) -> None:
            stream, after = streams[marked[index]]
            pipe.xread({stream: after}, count=READ)

        return await self._pipes.each([streams[name][0] for name in marked], read)

    def _deliver_entries(self, room: str, entries: Entries) -> None:
        cursor = self._rooms[room]
        for event in _events(entries, cursor):
            if event.id <= cursor.last_id:
                continue  # never deliver an id twice, whatever happened to the stream
            if cursor.last_id and event.id > cursor.last_id + 1:
                self._skipped(room, Loss(cursor.last_id + 1, event.id - 1))
            cursor.last_id = event.id
            self._track(room, event)
            self.history.append(event)
            if self._deliver is not None:
                try:
                    self._deliver(event)
                except Exception:  # a bug in delivery must not stop this process hearing the room
                    log.exception("delivering %s #%d failed", room, event.id)

    def _skipped(self, room: str, loss: Loss) -> None:
        """A room's ids are consecutive, so a jump means Redis lost the events in between before
        this process read them (restarted empty, or a failover, while this process stalled; or
        trimmed while it lagged that far behind): its clients are told, never left to miss them."""
        missed = loss.last - loss.first + 1
        log.warning("%s: ids %d to %d were lost before this process read them", room, loss.first, loss.last)
        self.history.room(room).skip(loss)
        if self._listener is not None:
            self._listener.skipped(room, Gap(lost=missed), loss.first - 1)

    def _track(self, room: str, event: Event) -> None:
        """Which rooms other processes' members are in, for reaping them."""
        if event.process == self.process:
            return
        member = (event.process, event.origin)
        if event.kind in ARRIVING:
            self._where.setdefault(member, set()).add(room)
        elif event.kind in EXITING and member in self._where:
            self._where[member].discard(room)
            if not self._where[member]:
                del self._where[member]

    def _deliver_private(self, entries: Entries) -> None:
        for entry_id, fields in entries:
            self._inbox_from = entry_id
            private = None
            with _skipping_unreadable():
                private = read_event(fields["e"]), int(fields["to"])
            if private is not None and self._listener is not None:
                self._listener.forwarded(private[1], private[0])

    # -- heartbeat and janitor ---------------------------------------------------------------------

    async def _beat_forever(self) -> None:
        """Say this process is alive, reap the members of processes that are not, and read every
        room once (whatever doorbell went astray)."""
        while not self._stopping:
            await asyncio.sleep(self.heartbeat)
            if Trouble.SENDING in self._troubles:
                continue
            assert self._redis is not None
            try:
                await self._redis.set(self.keys.heartbeat(self.process), 1, px=self.expiry_ms)
                await self._reap()
                await self._sweep()
                await self._unregister()
            except UNREACHABLE as problem:
                self._trouble(Trouble.SENDING, problem)
            self._ring_all()

    async def _reap(self) -> None:
        """Publish a leave in each room of each member whose process's heartbeat has expired.
        Every process does this; the dedup key (and the member check) lets exactly one through."""
        assert self._redis is not None
        members = list(_members((await self._redis.hgetall(self.keys.presence)).values()))
        others = sorted({m.process for m in members if m.process != self.process})
        if not others:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for process in others:
                pipe.exists(self.keys.heartbeat(process))
            dead = {p for p, up in zip(others, await pipe.execute(), strict=True) if not up}
        for member in members:
            if member.process not in dead:
                continue
            rooms = tuple(sorted(self._where.get((member.process, member.conn), ()))) or (self.history.default,)
            for room in rooms:
                uid = f"reap:{member.process}:{member.conn}:{nick_key(member.nick)}:{room}"
                if uid in self._reaping:
                    continue
                self._reaping.add(uid)
                event = Event(
                    Kind.LEAVE,
                    nick=member.nick,
                    text="connection lost",
                    gateway=member.gateway,
                    origin=member.conn,
                    process=member.process,
                    room=room,
                    spans=rooms,
                )
                self._enqueue_event(event, uid)

    # -- state ---------------------------------------------------------------------------------

    def _trouble(self, trouble: Trouble, problem: BaseException) -> None:
        """Part of Redis failed. Whatever it was, Redis may come back without its data, so the
        process also puts its state back (``SENDING`` ends only with that) before it is well."""
        if trouble in self._troubles or self._stopping:
            return
        well = not self._troubles
        if Trouble.SENDING not in self._troubles:
            self._stuck.add(EVERY_LANE)  # nothing is sent before what Redis may have lost is put back
        self._troubles.update((trouble, Trouble.SENDING))
        self._wake.set()
        if well:
            log.warning("Redis at %s unreachable (%s): rooms degraded, queueing locally", self.where, problem)
            if self._listener is not None:
                self._listener.degraded()

    def _resolved(self, trouble: Trouble) -> None:
        if trouble not in self._troubles or self._stopping:
            return
        self._troubles.discard(trouble)
        if not self._troubles:
            log.warning("Redis at %s reachable again: sending %d queued events", self.where, len(self._queue))
            self._ring_all()
            if self._listener is not None:
                self._listener.recovered()

    def _room_of(self, event: Event) -> str:
        return event.room or self.history.default

    def _member(self, event: Event) -> str:
        if event.gateway is None:
            return ""
        return member_record(event.nick, event.gateway, event.process, event.origin)


def _events(entries: Entries, cursor: Cursor | None = None) -> list[Event]:
    """The readable events of stream entries (moving ``cursor`` past every entry)."""
    events = []
    for entry_id, fields in entries:
        if cursor is not None:
            cursor.entry = entry_id
        with _skipping_unreadable():
            events.append(read_entry(entry_id, fields))
    return events


def _time_of(fields: dict[str, str]) -> float:
    """A stream entry's time (0 for one that has none readable: taken for old)."""
    try:
        return float(fields.get("ts", 0))
    except ValueError:
        return 0.0


def _members(records: Iterable[str]) -> list[RemoteMember]:
    members = []
    for record in records:
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

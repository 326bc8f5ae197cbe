"""Carrying a history kept in Redis by an earlier release, which kept every room's events in one
stream under one server-wide id sequence, into each room's own stream (``app.bus.redis_keys``).

Ids and times are kept as they were, so a client resuming with an id it saw before the upgrade
gets exactly what followed; each carried room's counter starts at the old sequence's last id, so
every new id is above every old one. Processes starting together let one of them do it, under a
lock, and wait for it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from app.bus.records import RecordError, read_entry
from app.bus.redis_connect import Client
from app.bus.redis_keys import Keys

log = logging.getLogger("app.redis")

LOCK_SECONDS = 60
WAIT_SECONDS = LOCK_SECONDS + 5.0
"""Longer than the lock lives: a process never starts before the carrying over is done, or its
carrier has died and the lock expired."""

Entries = list[tuple[str, dict[str, str]]]


async def carry_over(client: Client, keys: Keys, default: str, process: str) -> None:
    """Move the old shared streams into the rooms' own, once; a no-op where there are none."""
    old = _OldKeys(keys)
    if not await client.exists(old.stream, old.said):
        return
    if not await client.set(old.lock, process, nx=True, ex=LOCK_SECONDS):
        await _wait_for_other(client, old)
        return
    try:
        counter = int(await client.get(old.counter) or 0)
        moved = 0
        for source, target in ((old.stream, "stream"), (old.said, "said")):
            for room, entries in _by_room(await client.xrange(source), default).items():
                room_keys = keys.room(room)
                stream = room_keys.stream if target == "stream" else room_keys.said
                if await client.xlen(stream):
                    continue  # the room already has a history of its own: never mix the two
                async with client.pipeline(transaction=False) as pipe:
                    for entry_id, fields in entries:
                        pipe.xadd(stream, fields, id=entry_id)
                    pipe.set(room_keys.counter, counter, nx=True)
                    pipe.zadd(keys.rooms, {room: float(entries[-1][1].get("ts", 0))})
                    await pipe.execute()
                moved += len(entries)
        await client.delete(old.stream, old.said, old.counter)
        log.warning("carried %d events of the earlier single-stream history into their rooms", moved)
    finally:
        await client.delete(old.lock)


class _OldKeys:
    def __init__(self, keys: Keys) -> None:
        self.stream = keys.prefix + "stream"
        self.said = keys.prefix + "said"
        self.counter = keys.prefix + "counter"
        self.lock = keys.prefix + "upgrading"


def _by_room(entries: Entries, default: str) -> dict[str, Entries]:
    rooms: dict[str, Entries] = defaultdict(list)
    for entry_id, fields in entries:
        try:
            room = read_entry(entry_id, fields).room
        except RecordError:
            continue  # unreadable before, unreadable now: not carried
        rooms[room or default].append((entry_id, fields))
    return rooms


async def _wait_for_other(client: Client, old: _OldKeys) -> None:
    """Another process is carrying the history over: start once it is done (or seems stuck)."""
    try:
        async with asyncio.timeout(WAIT_SECONDS):
            while await client.exists(old.lock):
                await asyncio.sleep(0.1)
    except TimeoutError:
        log.warning("another process is still carrying the earlier history over: starting without waiting")

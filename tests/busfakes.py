"""A stand-in for the hub that records what a Redis bus tells one process, and how to drive two
buses against a real Redis or Redis Cluster."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from support import RedisCluster, RedisServer

from app.bus.history import Gap
from app.bus.redis import RedisBus
from app.domain.events import Event
from app.domain.room import Member, RemoteMember


class Recorder:
    """A hub stand-in: what one process is told."""

    def __init__(self) -> None:
        self.delivered: list[Event] = []
        self.refusals: list[tuple[Event, str]] = []
        self.remote: list[RemoteMember] = []

    def deliver(self, event: Event) -> None:
        self.delivered.append(event)

    def degraded(self) -> None: ...

    def recovered(self) -> None: ...

    def refused(self, event: Event, reason: str) -> None:
        self.refusals.append((event, reason))

    def skipped(self, room: str, gap: Gap, since: int) -> None: ...

    def forwarded(self, member: int, event: Event) -> None: ...

    def remote_members(self, members: list[RemoteMember], rooms: dict[str, set[str]]) -> None:
        self.remote = members

    def local_members(self) -> list[Member]:
        return []

    def rooms_of(self, member: int) -> list[str]:
        return []


def with_two_buses(redis: RedisServer | RedisCluster, scenario: Callable[..., Awaitable[None]]) -> None:
    async def run() -> None:
        buses = [RedisBus(redis.url, namespace="test"), RedisBus(redis.url, namespace="test")]
        recorders = [Recorder(), Recorder()]
        for bus, recorder in zip(buses, recorders, strict=True):
            await bus.start(recorder.deliver, recorder)
        try:
            await scenario(buses, recorders)
        finally:
            for bus in buses:
                await bus.stop()

    asyncio.run(run())


async def until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)

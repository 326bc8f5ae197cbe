"""One shard of a Redis Cluster goes down: the server is degraded, every room's events wait in
order, and once the shard is back (empty: it kept nothing) each arrives exactly once and its
room's members are put back. Two buses on a real three-node cluster; the shard is a real
``redis-server`` stopped and started again."""

from __future__ import annotations

import asyncio

import redis
from busfakes import Recorder, until
from support import RedisCluster

from app.bus.redis import RedisBus
from app.bus.redis_keys import Keys
from app.domain.events import Event, Gateway, Kind
from app.domain.room import Member


class Holder(Recorder):
    """A process whose member ``x`` (connection 1) is in ``rooms``: what it puts back after a
    shard lost its data."""

    def __init__(self, rooms: list[str]) -> None:
        super().__init__()
        self.rooms = rooms

    def local_members(self) -> list[Member]:
        return [Member(1, "x", Gateway.WEB)]

    def rooms_of(self, member: int) -> list[str]:
        return self.rooms


def rooms_on_two_shards(cluster: RedisCluster) -> tuple[str, str, int]:
    """A room on a shard that does not hold the server-wide keys (the one to stop), a room on
    another shard, and the port of the shard to stop."""
    keys = Keys("main")
    with redis.RedisCluster(host="127.0.0.1", port=cluster.ports[0]) as client:
        server = client.get_node_from_key(keys.presence).port
        shard = {f"#r{i}": client.get_node_from_key(keys.room(f"#r{i}").stream).port for i in range(40)}
    doomed = next(room for room, port in shard.items() if port != server)
    spared = next(room for room, port in shard.items() if port != shard[doomed])
    return doomed, spared, shard[doomed]


def texts(recorder: Recorder, room: str) -> list[str]:
    return [e.text for e in recorder.delivered if e.room == room and e.kind is Kind.MESSAGE]


def test_a_shard_down_holds_every_room_in_order_and_each_event_arrives_once_when_it_is_back(
    redis_cluster: RedisCluster,
) -> None:
    doomed, spared, port = rooms_on_two_shards(redis_cluster)
    said = {room: [f"{room} {n}" for n in (1, 2)] for room in (doomed, spared)}

    async def run() -> None:
        one, two = RedisBus(redis_cluster.url, heartbeat=0.3), RedisBus(redis_cluster.url, heartbeat=0.3)
        holder, watcher = Holder([doomed, spared]), Recorder()
        await one.start(holder.deliver, holder)
        await two.start(watcher.deliver, watcher)
        try:
            for room in (doomed, spared):
                arrival = Event(Kind.JOIN, nick="x", gateway=Gateway.WEB, origin=1, room=room, spans=(doomed, spared))
                one.publish(arrival)
            await until(lambda: len(watcher.delivered) == 2)
            redis_cluster.stop_node(port)
            for n in (0, 1):
                for room in (doomed, spared):
                    one.publish(Event(Kind.MESSAGE, nick="x", text=said[room][n], origin=1, room=room))
            await until(lambda: one.degraded, timeout=10)
            assert one.unsent >= 2, "what the shard should take waits, queued"
            await asyncio.to_thread(redis_cluster.restart_node, port)  # back, and empty
            await until(lambda: all(texts(watcher, room) == said[room] for room in said), timeout=20)
            await until(lambda: not one.degraded and not two.degraded, timeout=10)
            await asyncio.sleep(0.5)
            assert all(texts(watcher, room) == said[room] for room in said), "each once, in order"
            assert not holder.refusals, "the member was put back in the emptied shard's room"
        finally:
            await one.stop()
            await two.stop()

    try:
        asyncio.run(run())
    finally:
        if redis_cluster.processes[redis_cluster.ports.index(port)].poll() is not None:
            redis_cluster.restart_node(port)  # for the tests that share the cluster

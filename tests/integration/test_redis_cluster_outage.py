"""One shard of a Redis Cluster goes down: the server is degraded, the rooms on the other shards
go on, the stopped shard's rooms wait in order (and so does freeing a nick one of them shows), and
once the shard is back (empty: it kept nothing) each event arrives exactly once and the room's
members are put back. Two buses on a real three-node cluster; the shard is a real
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
    """A room on a shard that holds neither the server-wide keys nor slot 0 (the one to stop:
    redis-py's cluster client refreshes its layout through the primary of slot 0, and fails every
    command while that one is down), a room on another shard, and the port of the shard to stop."""
    keys = Keys("main")
    with redis.Redis(port=cluster.ports[0]) as node:
        first = next(
            int(primary[1]) for start, _, primary, *_ in node.execute_command("CLUSTER", "SLOTS") if start == 0
        )
    with redis.RedisCluster(host="127.0.0.1", port=cluster.ports[0]) as client:
        server = client.get_node_from_key(keys.presence).port
        shard = {f"#r{i}": client.get_node_from_key(keys.room(f"#r{i}").stream).port for i in range(40)}
    doomed = next(room for room, port in shard.items() if port not in (server, first))
    spared = next(room for room, port in shard.items() if port != shard[doomed])
    return doomed, spared, shard[doomed]


def texts(recorder: Recorder, room: str) -> list[str]:
    return [e.text for e in recorder.delivered if e.room == room and e.kind is Kind.MESSAGE]


def test_a_shard_down_holds_its_rooms_and_their_nicks_while_the_others_go_on(redis_cluster: RedisCluster) -> None:
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
            await until(lambda: texts(watcher, spared) == said[spared], timeout=15)
            assert one.degraded, "the process knows part of Redis is unreachable"
            assert texts(watcher, doomed) == [], "held while its shard is down"
            for room in (doomed, spared):  # x leaves: the stopped shard's room still shows x
                one.publish(
                    Event(Kind.LEAVE, nick="x", gateway=Gateway.WEB, origin=1, room=room, spans=(doomed, spared))
                )
            await until(lambda: any(e.kind is Kind.LEAVE and e.room == spared for e in watcher.delivered), timeout=15)
            two.publish(Event(Kind.JOIN, nick="x", gateway=Gateway.TELNET, origin=7, room=spared))
            await until(lambda: bool(watcher.refusals), timeout=15)
            assert watcher.refusals[0][1] == "taken", "nobody takes a nick a room still shows"
            await asyncio.to_thread(redis_cluster.restart_node, port)  # back, and empty
            await until(lambda: texts(watcher, doomed) == said[doomed], timeout=20)
            await until(lambda: not one.degraded and not two.degraded, timeout=10)
            await asyncio.sleep(0.5)
            assert all(texts(watcher, room) == said[room] for room in said), "each once, in order"
            assert not holder.refusals, "the member was put back in the emptied shard's room"
            two.publish(Event(Kind.JOIN, nick="x", gateway=Gateway.TELNET, origin=8, room=spared))
            await until(lambda: any(e.kind is Kind.JOIN and e.origin == 8 for e in watcher.delivered), timeout=10)
        finally:
            await one.stop()
            await two.stop()

    try:
        asyncio.run(run())
    finally:
        if redis_cluster.processes[redis_cluster.ports.index(port)].poll() is not None:
            redis_cluster.restart_node(port)  # for the tests that share the cluster

"""The Redis bus's guarantees where two processes race, checked on two buses against a real Redis
and a real Redis Cluster: one winner for a nick, exactly-once retries, no message from someone not
in the room, a snapshot for a late starter, and many rooms made at once."""

from __future__ import annotations

import asyncio

from busfakes import Recorder, until, with_two_buses

from app.bus.redis import Outgoing, RedisBus
from app.domain.events import Event, Gateway, Kind


def join(nick: str, origin: int) -> Event:
    return Event(Kind.JOIN, nick=nick, gateway=Gateway.WEB, origin=origin)


def test_two_processes_claiming_one_nick_at_once_get_one_winner(shared_redis) -> None:
    async def scenario(buses: list[RedisBus], recorders: list[Recorder]) -> None:
        buses[0].publish(join("alice", 1))
        buses[1].publish(join("Alice", 1))  # neither has seen the other's join
        await until(lambda: all(r.delivered for r in recorders) and any(r.refusals for r in recorders))
        await asyncio.sleep(0.3)
        winner = recorders[0].delivered[0]
        assert winner.kind is Kind.JOIN
        assert recorders[0].delivered == recorders[1].delivered == [winner], "one join, seen by both"
        refused = [refusal for r in recorders for refusal in r.refusals]
        assert len(refused) == 1 and refused[0][1] == "taken"
        assert refused[0][0].process != winner.process

    with_two_buses(shared_redis, scenario)


def test_a_retried_publish_is_delivered_once(shared_redis) -> None:
    async def scenario(buses: list[RedisBus], recorders: list[Recorder]) -> None:
        buses[0].publish(join("bob", 7))
        said = Event(Kind.MESSAGE, nick="bob", text="only once", origin=7, process=buses[0].process)
        buses[0]._enqueue(Outgoing(said, "same-id"))
        buses[0]._enqueue(Outgoing(said, "same-id"))  # as after a reply lost with the connection
        buses[0].publish(Event(Kind.MESSAGE, nick="bob", text="next", origin=7))
        await until(lambda: len(recorders[1].delivered) == 3)
        await asyncio.sleep(0.3)
        assert [e.text for e in recorders[1].delivered] == ["", "only once", "next"]
        assert [e.id for e in recorders[1].delivered] == [e.id for e in recorders[0].delivered]

    with_two_buses(shared_redis, scenario)


def test_a_message_from_someone_not_in_the_room_is_refused(shared_redis) -> None:
    async def scenario(buses: list[RedisBus], recorders: list[Recorder]) -> None:
        buses[1].publish(join("carol", 3))
        buses[0].publish(Event(Kind.MESSAGE, nick="carol", text="impostor", origin=3))
        await until(lambda: bool(recorders[0].refusals))
        assert recorders[0].refusals[0][1] == "absent"
        await until(lambda: bool(recorders[1].delivered))
        await asyncio.sleep(0.3)
        assert [e.kind for e in recorders[1].delivered] == [Kind.JOIN]

    with_two_buses(shared_redis, scenario)


def test_a_new_process_starts_from_a_snapshot_of_history_and_presence(shared_redis) -> None:
    async def scenario(buses: list[RedisBus], recorders: list[Recorder]) -> None:
        buses[0].publish(join("dave", 4))
        buses[0].publish(Event(Kind.MESSAGE, nick="dave", text="hello", origin=4))
        await until(lambda: len(recorders[0].delivered) == 2)
        late, recorder = RedisBus(shared_redis.url, namespace="test"), Recorder()
        await late.start(recorder.deliver, recorder)
        try:
            assert [e.text for e in late.history.recent(10)] == ["", "hello"]
            assert late.last_id == recorders[0].delivered[-1].id
            assert [(m.nick, m.process, m.conn) for m in recorder.remote] == [("dave", buses[0].process, 4)]
        finally:
            await late.stop()

    with_two_buses(shared_redis, scenario)


def test_rooms_made_at_once_on_one_process_are_all_followed_by_the_other(shared_redis) -> None:
    rooms = [f"#r{i}" for i in range(60)]

    async def scenario(buses: list[RedisBus], recorders: list[Recorder]) -> None:
        for room in rooms:  # one member arriving in many new rooms at once: doorbells overlap
            buses[0].publish(
                Event(Kind.JOIN, nick="erin", gateway=Gateway.WEB, origin=5, room=room, spans=tuple(rooms))
            )
        for room in rooms:
            buses[0].publish(Event(Kind.MESSAGE, nick="erin", text=f"in {room}", origin=5, room=room))
        await until(lambda: len(recorders[1].delivered) >= 2 * len(rooms), timeout=10)
        said = {e.room: e.text for e in recorders[1].delivered if e.kind is Kind.MESSAGE}
        assert said == {room: f"in {room}" for room in rooms}
        assert all(e.id == 1 for e in recorders[1].delivered if e.kind is Kind.JOIN), "each room numbers its own"

    with_two_buses(shared_redis, scenario)


def test_entering_a_room_under_a_nick_another_process_holds_is_refused(shared_redis) -> None:
    async def scenario(buses: list[RedisBus], recorders: list[Recorder]) -> None:
        buses[0].publish(join("carol", 3))
        await until(lambda: bool(recorders[1].delivered))
        impostor = Event(Kind.ENTER, nick="carol", gateway=Gateway.WEB, origin=9, room="#x")
        buses[1].publish(impostor)  # its replica had not heard of carol yet
        await until(lambda: bool(recorders[1].refusals))
        assert recorders[1].refusals[0][1] == "taken"
        buses[0].publish(Event(Kind.ENTER, nick="carol", gateway=Gateway.WEB, origin=3, room="#x"))
        buses[0].publish(Event(Kind.MESSAGE, nick="carol", text="the real one", origin=3, room="#x"))
        await until(lambda: any(e.text == "the real one" for e in recorders[1].delivered))
        assert not recorders[0].refusals, "the room's member record still names the real carol"

    with_two_buses(shared_redis, scenario)


def test_a_room_whose_first_doorbells_went_astray_is_delivered_from_its_first_event(shared_redis) -> None:
    async def run() -> None:
        buses = [RedisBus(shared_redis.url, namespace="test", heartbeat=0.3) for _ in range(2)]
        recorders = [Recorder(), Recorder()]
        for bus, recorder in zip(buses, recorders, strict=True):
            await bus.start(recorder.deliver, recorder)
        try:
            await buses[1]._subscription.unsubscribe()  # as if the doorbells were lost on the way
            buses[0].publish(join("dora", 4))
            buses[0].publish(Event(Kind.ENTER, nick="dora", gateway=Gateway.WEB, origin=4, room="#new"))
            buses[0].publish(Event(Kind.MESSAGE, nick="dora", text="first words", origin=4, room="#new"))
            await until(lambda: any(e.text == "first words" for e in recorders[1].delivered), timeout=10)
            assert [e.kind for e in recorders[1].delivered if e.room == "#new"] == [Kind.ENTER, Kind.MESSAGE]
        finally:
            for bus in buses:
                await bus.stop()

    asyncio.run(run())


def test_a_nick_change_frees_the_old_nick_once_every_room_has_it_but_not_for_a_change_of_case(
    shared_redis,
) -> None:
    async def scenario(buses: list[RedisBus], recorders: list[Recorder]) -> None:
        buses[0].publish(join("alice", 1))
        buses[0].publish(join("bob", 2))
        buses[0].publish(Event(Kind.ENTER, nick="alice", gateway=Gateway.WEB, origin=1, room="#dev"))
        rooms = ("#main", "#dev")
        for room in rooms:
            change = Event(Kind.NICK, nick="ally", old="alice", gateway=Gateway.WEB, origin=1, room=room, spans=rooms)
            buses[0].publish(change)
        buses[0].publish(Event(Kind.NICK, nick="BOB", old="bob", gateway=Gateway.WEB, origin=2, spans=("#main",)))
        await until(lambda: sum(e.kind is Kind.NICK for e in recorders[1].delivered) == 3)
        buses[1].publish(join("alice", 7))
        buses[1].publish(join("bob", 8))
        await until(lambda: bool(recorders[1].refusals) and len(recorders[1].delivered) >= 7)
        assert [e.nick for e in recorders[1].delivered if e.kind is Kind.JOIN][-1] == "alice"
        assert [(e.nick, reason) for e, reason in recorders[1].refusals] == [("bob", "taken")]

    with_two_buses(shared_redis, scenario)

"""Rooms across two real processes sharing a real Redis or Redis Cluster: membership, topics, one
order per room, a departure from several rooms that frees the nick once, and rooms spread over shards."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import redis
from support import RedisCluster, RedisServer, ServerProcess, WebUser


def listed(user: WebUser, room: str, nick: str) -> bool:
    """Whether /who ROOM, asked on ``user``'s process, lists ``nick``."""
    user.say(f"/who {room}")
    reply = user.expect(lambda e: e["type"] in ("users", "error"))
    return nick in {u["nick"] for u in reply.get("users", [])}


@pytest.fixture
def pair(
    shared_redis: RedisServer | RedisCluster, start_server: Callable[..., ServerProcess]
) -> tuple[ServerProcess, ServerProcess]:
    env = {"REDIS_URL": shared_redis.url, "CHAT_RATE": "0", "CHAT_REDIS_HEARTBEAT": "0.3"}
    return start_server(**env), start_server(**env)


def test_a_room_spans_processes_with_its_members_topic_and_order(pair: tuple[ServerProcess, ServerProcess]) -> None:
    one, two = pair
    alice, bob, carol = one.web("alice"), two.tcp(nick="bob"), two.web("carol")
    alice.say("/join #dev")
    alice.expect(type="room", room="#dev")
    alice.expect(type="enter", nick="alice")  # back from Redis: the other process has it too, or soon will
    deadline = time.monotonic() + 5
    while not listed(carol, "#dev", "alice"):
        assert time.monotonic() < deadline, "the other process never learned that alice is in #dev"
    bob.send("/join #dev")
    entered = bob.expect(lambda line: line.startswith("* You are now in #dev"))
    assert "alice" in entered, "alice is in #dev on the other process"
    alice.expect(type="enter", nick="bob")
    bob.send("/topic across processes")
    assert alice.expect(type="topic")["text"] == "across processes"
    for i in range(5):
        (alice.say if i % 2 else bob.send)(f"line {i}")
    got = [alice.expect(type="message") for _ in range(5)]
    assert sorted(e["text"] for e in got) == [f"line {i}" for i in range(5)]
    assert [e["id"] for e in got] == sorted(e["id"] for e in got), "one order for the room"
    assert all(e["room"] == "#dev" for e in got)
    assert [e for e in carol.silent(0.5) if e.get("room") == "#dev"] == [], "carol is not in #dev"
    carol.say("/rooms")
    listing = {r["name"]: (r["members"], r["topic"]) for r in carol.expect(type="rooms")["rooms"]}
    assert listing["#dev"] == (2, "across processes")


def test_leaving_several_rooms_frees_the_nick_on_every_process(pair: tuple[ServerProcess, ServerProcess]) -> None:
    one, two = pair
    alice, watcher = one.web("alice"), two.web("watcher")
    alice.say("/join #dev")
    alice.expect(type="room", room="#dev")
    watcher.say("/join #dev")
    watcher.expect(type="room", room="#dev")
    alice.close()
    left = {watcher.expect(type="leave", nick="alice")["room"], watcher.expect(type="leave", nick="alice")["room"]}
    assert left == {"#main", "#dev"}, "one leave in each room, each with its own id"
    again = two.web("alice")
    assert again.nick == "alice", "the nick was freed once the last leave went through"


def test_a_process_started_later_knows_who_is_in_which_room(
    pair: tuple[ServerProcess, ServerProcess], start_server: Callable[..., ServerProcess]
) -> None:
    one, _ = pair
    alice = one.tcp(nick="alice")
    alice.send("/join #dev")
    alice.expect(lambda line: line.startswith("* You are now in #dev"))
    alice.send("/part #main")
    alice.expect(lambda line: line.endswith("* alice left #main"))
    late = start_server(REDIS_URL=one.env["REDIS_URL"], CHAT_RATE="0")
    carol = late.web("carol")
    assert listed(carol, "#dev", "alice"), "alice's room, from the room's members in Redis"
    assert not listed(carol, "#main", "alice"), "alice left #main before this process started"
    carol.say("/rooms")
    assert {r["name"]: r["members"] for r in carol.expect(type="rooms")["rooms"]}["#dev"] == 1


def test_rooms_spread_over_the_shards_of_a_cluster_each_in_one_slot(
    redis_cluster: RedisCluster, start_server: Callable[..., ServerProcess]
) -> None:
    one, two = (start_server(REDIS_URL=redis_cluster.url, CHAT_RATE="0") for _ in range(2))
    talker, reader = one.tcp(nick="talker"), two.web("reader")
    rooms = [f"#room{i}" for i in range(8)]
    for room in rooms:
        for user in (talker, reader):
            (user.send if user is talker else user.say)(f"/join {room}")
        reader.expect(type="enter", nick="talker", room=room)
        talker.send(f"hello {room}")
        assert reader.expect(type="message", room=room)["text"] == f"hello {room}"
    holders: dict[str, set[int]] = {}
    for port in redis_cluster.ports:
        node = redis.Redis(port=port, decode_responses=True)
        for key in node.scan_iter("chat:{main:#room*"):
            holders.setdefault(key.split("}")[0], set()).add(port)
        node.close()
    assert len(holders) == len(rooms), "every room's keys are in the cluster"
    assert all(len(ports) == 1 for ports in holders.values()), "a room's keys share one slot"
    assert len(set().union(*holders.values())) >= 2, "the rooms are spread over the shards"


def test_redact_acts_on_the_room_the_page_shows_where_each_room_numbers_its_own(
    redis_server: RedisServer, start_server: Callable[..., ServerProcess]
) -> None:
    server = start_server(REDIS_URL=redis_server.url, CHAT_RATE="0", CHAT_OPERATOR_PASSWORD="s3cret-enough")
    op = server.web("op", query="rooms=dev,ops")  # #dev is current: the first named
    op.say("/oper s3cret-enough")
    op.expect(lambda e: "operator" in e.get("text", ""))
    ann = server.web("ann", query="rooms=dev,ops")
    ann.send_raw(json.dumps({"type": "say", "text": "filler", "room": "#ops"}))  # #dev has the /oper notice
    op.expect(type="message", text="filler")
    said = {}
    for room in ("#dev", "#ops"):
        ann.send_raw(json.dumps({"type": "say", "text": f"plain words in {room}", "room": room}))
        said[room] = op.expect(type="message", room=room)
    assert said["#dev"]["id"] == said["#ops"]["id"], "the same id in both rooms"
    op.send_raw(json.dumps({"type": "say", "text": f"/redact {said['#ops']['id']}", "room": "#ops"}))
    removal = ann.expect(type="moderation", code="redact")
    assert removal["room"] == "#ops", "the message of the room the operator was looking at, not its current one"
    assert [e for e in ann.silent(0.5) if e.get("type") == "moderation"] == [], "the other room's is untouched"

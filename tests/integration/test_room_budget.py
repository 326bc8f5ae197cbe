"""Rooms as a budgeted resource on a real server: a stranger making rooms in bulk cannot erase a
room's history (in memory or on disk), and making rooms costs a connection and an address."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import redis
from support import RedisServer, ServerProcess, WebUser, wait_until

ROOMS = ",".join(f"spam{n}" for n in range(20))


def stranger(server: ServerProcess, address: str, query: str = "") -> WebUser:
    """A web user whose trusted proxy (loopback) says it comes from ``address``."""
    return server.web(query=query, headers={"X-Forwarded-For": address})


def refusals(user: WebUser) -> list[dict[str, str]]:
    """The errors a user has been told until it goes quiet."""
    return [event for event in user.silent() if event.get("type") == "error"]


@pytest.mark.parametrize("store", ["sqlite", "redis"])
def test_room_churn_leaves_a_room_with_history_intact_and_refuses_the_stranger(
    store: str, tmp_path: Path, start_server: Callable[..., ServerProcess], request: pytest.FixtureRequest
) -> None:
    env = {"CHAT_MAX_ROOMS": "6", "CHAT_DB": str(tmp_path / "kept.db"), "CHAT_WEB_HISTORY": "20", "CHAT_RATE": "0"}
    if store == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_server").url
    server = start_server(**env)
    alice = server.web("alice", query="rooms=keep")
    for n in range(3):
        alice.say(f"keep me {n}")
        alice.expect(type="message", text=f"keep me {n}")
    alice.close()
    attackers = [stranger(server, f"203.0.113.{n}", f"rooms={ROOMS}") for n in range(1, 6)]
    codes = [error["code"] for attacker in attackers for error in refusals(attacker)]
    assert "rooms_full" in codes, codes
    full = next(error for error in attackers[-1].events if error.get("code") == "rooms_full")
    assert full["text"] == "Not joined: the server has its limit of 6 rooms, all in use: join one of them (/rooms)"
    for attacker in attackers:  # rooms only their guest maker spoke in: kept a day, not for ever
        for room in attacker.welcome["rooms"]:
            attacker.ws.send(json.dumps({"type": "say", "text": "mine now", "room": room["name"]}))
            attacker.expect(type="message", text="mine now", room=room["name"])  # said, and stored
        attacker.close()
    late = stranger(server, "198.51.100.9", "rooms=yet-another")
    assert [error["code"] for error in refusals(late)] == ["rooms_full"]
    late.close()
    bob = server.web("bob", query="rooms=keep")
    replayed = [event["text"] for event in bob.silent() if event.get("type") == "message"]
    assert replayed == ["keep me 0", "keep me 1", "keep me 2"], "#keep's history is intact"
    bob.close()
    server.stop()
    again = start_server(**env)
    carol = again.web("carol", query="rooms=keep")
    replayed = [event["text"] for event in carol.silent() if event.get("type") == "message"]
    assert replayed == ["keep me 0", "keep me 1", "keep me 2"], "and in the store, after a restart"


def test_making_rooms_costs_the_connection_and_its_address(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(CHAT_ROOM_BURST="3", CHAT_ROOM_RATE="0.01")
    eve = stranger(server, "203.0.113.7", "rooms=a1,a2,a3,a4,a5")
    assert sorted(room["name"] for room in eve.welcome["rooms"]) == ["#a3", "#a4", "#a5"], "the URL's last first"
    [error, _] = refusals(eve)
    assert error["code"] == "room_rate"
    assert error["text"] == "Not joined: you are making rooms too fast: wait a minute, or join one that exists (/rooms)"
    twin = stranger(server, "203.0.113.7")
    twin.say("/join #a6")
    assert twin.expect(type="error")["code"] == "room_rate", "the address's budget is spent too"
    twin.say("/join #a3")
    assert twin.expect(type="room")["room"] == "#a3", "joining a room that exists costs nothing"
    other = stranger(server, "198.51.100.1")
    other.say("/join #b1")
    assert other.expect(type="room")["room"] == "#b1", "another address has its own budget"
    local = server.web(query="rooms=c1,c2,c3,c4")  # loopback: exempt per address, not per connection
    assert len(local.welcome["rooms"]) == 3
    assert [error["code"] for error in refusals(local)] == ["room_rate"]


def test_with_redis_rooms_forgotten_leave_the_registry_and_a_restart_loads_the_room_with_history(
    start_server: Callable[..., ServerProcess], redis_server: RedisServer
) -> None:
    env = {"REDIS_URL": redis_server.url, "CHAT_MAX_ROOMS": "3", "CHAT_WEB_HISTORY": "20"}
    env["CHAT_REDIS_HEARTBEAT"] = "0.2"
    server = start_server(**env)
    alice = server.web("alice", query="rooms=keep")
    alice.say("keep me")
    alice.expect(type="message", text="keep me")
    alice.close()
    for n in range(4):  # each a room nobody speaks in: the next one takes its place
        passer = stranger(server, f"203.0.113.{n}", f"rooms=empty{n}")
        assert passer.welcome["room"] == f"#empty{n}"
        passer.close()
    registry = redis.Redis.from_url(redis_server.url, decode_responses=True)
    wait_until(
        lambda: set(registry.zrange("chat:{main}:rooms", 0, -1)) <= {"#main", "#keep", "#empty3"},
        10,
        lambda: f"registry: {registry.zrange('chat:{main}:rooms', 0, -1)}",
    )
    again = start_server(**env)
    bob = again.web("bob", query="rooms=keep")
    assert [event["text"] for event in bob.silent() if event.get("type") == "message"] == ["keep me"]

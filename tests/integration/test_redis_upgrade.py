"""A history kept in Redis by the earlier release (every room in one stream, one id sequence for
the server) is carried into each room's own stream on the first start: nothing said before the
upgrade is lost, ids are kept, and every new id is above them."""

from __future__ import annotations

from collections.abc import Callable

import redis
from support import RedisServer, ServerProcess

from app.bus.records import event_record
from app.domain.events import Event, Kind

EARLIER = [  # (id, room, text) as the earlier release numbered them: one sequence for every room
    (1, "#main", "hello main"),
    (2, "#dev", "hello dev"),
    (3, "#main", "still main"),
    (4, "#dev", "still dev"),
]


def write_earlier_history(url: str) -> None:
    client = redis.Redis.from_url(url, decode_responses=True)
    for id, room, text in EARLIER:
        record = event_record(Event(Kind.MESSAGE, nick="old", text=text, room=room))
        for stream in ("stream", "said"):
            client.xadd(f"chat:{{main}}:{stream}", {"e": record, "ts": f"{1_700_000_000 + id}.000000"}, id=f"{id}-0")
    client.set("chat:{main}:counter", 4)
    client.close()


def test_an_earlier_single_stream_history_is_carried_into_each_room(
    redis_server: RedisServer, start_server: Callable[..., ServerProcess]
) -> None:
    write_earlier_history(redis_server.url)
    env = {"REDIS_URL": redis_server.url, "CHAT_WEB_HISTORY": "100"}
    one, two = (start_server(**env) for _ in range(2))  # the first to start carries it over
    reader = two.web("reader", query="rooms=dev,main&since=dev:2,main:1")
    replayed = {(e["room"], e["id"], e["text"]) for e in (reader.expect(type="message") for _ in range(2))}
    assert replayed == {("#dev", 4, "still dev"), ("#main", 3, "still main")}, "each room after its own id"
    fresh = two.web("fresh", query="rooms=dev")
    fresh.expect(type="system", code="live", room="#dev")
    shown = [e["text"] for e in fresh.events if e["type"] == "message"]
    assert shown == ["hello dev", "still dev"], "a room's whole earlier history is its own"
    talker = one.web("talker", query="rooms=dev")
    talker.say("after the upgrade")
    said = reader.expect(type="message", text="after the upgrade")
    assert said["room"] == "#dev" and said["id"] > 4, "new ids follow the old ones"
    keys = redis.Redis.from_url(redis_server.url, decode_responses=True)
    assert not keys.exists("chat:{main}:stream"), "the old stream is gone once carried over"
    keys.close()

"""The hub with the in-process bus and fake clients: admission, flood control, fan-out, leaving."""

from __future__ import annotations

import json

from hubfakes import REMOTE, Clock, FakeClient, JsonCodec, LineCodec, Timers, join, kinds, make_hub

from app.delivery.fanout import Channel, Flusher, Outbox
from app.delivery.laggards import Laggards, OutboxLimits
from app.delivery.replay import HISTORY_PART
from app.domain.events import Gateway
from app.domain.flood import FloodPolicy
from app.domain.goodbye import Goodbye, Refusal
from app.hub.core import Admission
from app.hub.handshakes import Ending, Handshake, HandshakeLimits

# -- fan-out -------------------------------------------------------------------------------------


def test_fan_out_encodes_once_per_codec_and_marks_the_senders_copy() -> None:
    hub = make_hub()
    web, tcp = JsonCodec(), LineCodec()
    alice, bob, carol = (join(hub, web, nick) for nick in ("alice", "bob", "carol"))
    dave, erin = (join(hub, tcp, nick) for nick in ("dave", "erin"))
    web.calls = tcp.calls = 0
    for client in (alice, bob, carol, dave, erin):
        client.clear()

    hub.receive(alice, "hello all")

    assert web.calls == 2  # alice's own copy, and one shared by bob and carol
    assert tcp.calls == 1
    [own] = alice.frames()
    assert (own["type"], own["nick"], own["text"], own["self"]) == ("message", "alice", "hello all", True)
    for reader in (bob, carol):
        [frame] = reader.frames()
        assert frame == {key: value for key, value in own.items() if key != "self"}
    assert bob.received[0] is carol.received[0]  # literally the same encoded chunk
    assert dave.text() == erin.text() == "[alice] hello all\r\n"


def test_line_codec_skipping_own_message_sends_nothing_to_the_sender() -> None:
    hub = make_hub()
    tcp = LineCodec()
    dave, erin = join(hub, tcp, "dave"), join(hub, tcp, "erin")
    dave.clear()
    erin.clear()
    hub.receive(dave, "hi")
    hub.receive(dave, "/me waves")
    assert dave.text() == "* [dave] waves\r\n"
    assert erin.text() == "[dave] hi\r\n* [dave] waves\r\n"


def test_join_reaches_everyone_and_welcome_only_the_newcomer() -> None:
    hub = make_hub()
    web = JsonCodec()
    alice = join(hub, web, "alice")
    alice.clear()
    bob = join(hub, web, "bob")
    assert kinds(alice) == ["join"]
    assert kinds(bob) == ["welcome", "join"]
    assert bob.frames()[1]["self"] is True
    assert [u["nick"] for u in bob.frames()[0]["users"]] == ["alice", "bob"]


def test_private_message_reaches_only_target_and_sender() -> None:
    hub = make_hub()
    web = JsonCodec()
    alice, bob, carol = (join(hub, web, nick) for nick in ("alice", "bob", "carol"))
    for client in (alice, bob, carol):
        client.clear()
    hub.receive(alice, "/msg bob psst")
    assert bob.frames() == [{"type": "private", "nick": "alice", "to": "bob", "text": "psst"}]
    assert alice.frames() == [{"type": "private", "nick": "alice", "to": "bob", "text": "psst", "self": True}]
    assert carol.received == []


def test_ids_increase_across_both_gateways() -> None:
    hub = make_hub()
    alice = join(hub, JsonCodec(), "alice")
    dave = join(hub, LineCodec(), "dave")
    hub.receive(dave, "from tcp")
    hub.receive(alice, "from web")
    ids = [frame["id"] for frame in alice.frames() if "id" in frame]
    assert ids == sorted(ids) and len(set(ids)) == len(ids) == 4  # two joins, two messages


def test_events_published_during_delivery_come_after_it() -> None:
    hub = make_hub()
    web = JsonCodec()

    alice = join(hub, web, "alice")
    slow = FakeClient(hub, web)
    stuck = Channel(
        web, Laggards(OutboxLimits(max_bytes=0), later=lambda delay, look: None), Flusher(schedule=lambda flush: None)
    )
    hub.channels.append(stuck)
    slow.outbox = Outbox(stuck, slow.written.append, lambda: hub.drop(slow, Goodbye.TOO_SLOW))
    hub.connect(slow, "slow")
    bob, carol = join(hub, web, "bob"), join(hub, web, "carol")
    stuck.flusher.flush()
    slow.outbox.blocked()  # its connection is backed up: the next broadcast overflows it
    for client in (alice, bob, carol):
        client.clear()

    hub.receive(alice, "boom")

    for reader in (alice, bob, carol):
        frames = reader.frames()
        assert [(f["type"], f["nick"]) for f in frames] == [("message", "alice"), ("leave", "slow")]
        assert frames[0]["id"] < frames[1]["id"]
        assert frames[1]["text"] == "too slow"
    assert slow.id not in hub.clients


# -- admission -----------------------------------------------------------------------------------


def test_refuses_when_full() -> None:
    hub = make_hub(admission=Admission(max_connections=2, max_per_address=10))
    alice = join(hub, JsonCodec(), "alice", "198.51.100.1")
    join(hub, JsonCodec(), "bob", "198.51.100.2")
    assert hub.refusal(hub.budget("198.51.100.3")) == Refusal(Goodbye.FULL)
    assert hub.refusal(hub.budget("127.0.0.1")) == Refusal(Goodbye.FULL)
    hub.disconnect(alice)
    assert hub.refusal(hub.budget("198.51.100.3")) is None


def test_refuses_too_many_from_one_address_but_not_from_loopback() -> None:
    hub = make_hub(admission=Admission(max_connections=100, max_per_address=2))
    web = JsonCodec()
    first = join(hub, web, "a1", "203.0.113.5")
    join(hub, web, "a2", "203.0.113.5")
    assert hub.refusal(hub.budget("203.0.113.5")) == Refusal(Goodbye.ADDRESS_LIMIT, "limit 2")
    assert hub.refusal(hub.budget("203.0.113.6")) is None
    for i, address in enumerate(["127.0.0.1", "127.0.0.1", "::1", "::1", "127.0.0.1"]):
        join(hub, web, f"local{i}", address)
    assert hub.refusal(hub.budget("127.0.0.1")) is None
    assert hub.refusal(hub.budget("::1")) is None
    hub.disconnect(first)
    assert hub.refusal(hub.budget("203.0.113.5")) is None


def test_every_door_starts_its_handshake_in_one_pool_and_a_full_room_still_hears_why() -> None:
    timers = Timers()
    hub = make_hub(admission=Admission(max_connections=1, max_per_address=1), later=timers)
    hub.handshakes.limits = HandshakeLimits(total=2)
    join(hub, JsonCodec(), "a1", "203.0.113.5")
    cut: list[Ending] = []
    started = [hub.handshake_started(door, "203.0.113.5", 10.0, cut.append) for door in (Gateway.TLS, Gateway.SSH)]
    assert all(isinstance(handshake, Handshake) for handshake in started)  # the room is full: they may still ask
    assert hub.handshake_started(Gateway.WEB, "198.51.100.9", 10.0, print)  # a newcomer: the oldest makes room
    assert cut == [Ending.CROWDED_OUT] and len(hub.handshakes) == 2
    assert hub.refusal("198.51.100.9") == Refusal(Goodbye.FULL)  # and, finished, is told why in its own terms
    hub.closing = True
    assert hub.handshake_started(Gateway.WEB, "192.0.2.1", 10.0, print) == Refusal(Goodbye.RESTARTING)


# -- flood control -------------------------------------------------------------------------------


def test_flood_refusal_is_told_to_the_sender_only_and_not_sent() -> None:
    clock = Clock()
    hub = make_hub(flood=FloodPolicy(burst=2, rate=1.0, kick_after=10, paste_lines=0), clock=clock)
    web = JsonCodec()
    alice, bob = join(hub, web, "alice"), join(hub, web, "bob")
    bob.clear()
    alice.clear()
    for i in range(3):
        hub.receive(alice, f"line {i}")
    assert [f.get("text") for f in bob.frames()] == ["line 0", "line 1"]
    error = alice.frames()[-1]
    assert (error["type"], error["code"]) == ("error", "rate_limited")
    assert error["text"] == "Slow down: not sent (limits: 2 lines at once, then 1 a second)"
    clock.now += 1.0
    hub.receive(alice, "line 3")
    assert bob.frames()[-1]["text"] == "line 3"


def test_connections_from_one_address_share_the_flood_budget_but_loopback_does_not() -> None:
    hub = make_hub(flood=FloodPolicy(burst=2, rate=1.0, kick_after=10, paste_lines=0))
    web = JsonCodec()
    watcher = join(hub, web, "watcher", "192.0.2.1")
    tab1, tab2 = join(hub, web, "tab1", REMOTE), join(hub, web, "tab2", REMOTE)
    local1, local2 = join(hub, web, "local1", "127.0.0.1"), join(hub, web, "local2", "127.0.0.1")
    watcher.clear()
    for client in (tab1, tab2, local1, local2):
        hub.receive(client, "one")
        hub.receive(client, "two")
    said = [(f["nick"], f["text"]) for f in watcher.frames() if f["type"] == "message"]
    assert said == [
        ("tab1", "one"),
        ("tab1", "two"),
        ("local1", "one"),
        ("local1", "two"),
        ("local2", "one"),
        ("local2", "two"),
    ]


def test_flooding_client_is_kicked_with_a_notice_and_others_see_it_leave() -> None:
    hub = make_hub(flood=FloodPolicy(burst=1, rate=1.0, kick_after=3, paste_lines=0))
    web = JsonCodec()
    flooder, bob = join(hub, web, "flooder"), join(hub, web, "bob")
    bob.clear()
    for i in range(10):
        hub.receive(flooder, f"spam {i}")
    assert len(flooder.closed) == 1
    goodbye, notice = flooder.closed[0]
    assert goodbye is Goodbye.FLOODING
    assert isinstance(notice, str)
    assert json.loads(notice) == {"type": "error", "text": Goodbye.FLOODING.text, "code": "disconnected"}
    assert [(f["type"], f.get("text")) for f in bob.frames()] == [("message", "spam 0"), ("leave", "flooding")]
    assert flooder.id not in hub.clients


def test_refused_input_gets_a_few_answers_then_a_bad_input_goodbye() -> None:
    hub = make_hub(flood=FloodPolicy(burst=2, rate=1.0, kick_after=5))
    web = JsonCodec()
    garbler, bob = join(hub, web, "garbler"), join(hub, web, "bob")
    garbler.clear()
    bob.clear()
    for _ in range(10):
        hub.refuse(garbler, "Malformed JSON", "bad_frame")
    assert [f["code"] for f in garbler.frames() if f["type"] == "error"] == ["bad_frame"] * 2
    [(goodbye, notice)] = garbler.closed
    assert goodbye is Goodbye.BAD_INPUT
    assert json.loads(notice) == {"type": "error", "text": Goodbye.BAD_INPUT.text, "code": "disconnected"}  # type: ignore[arg-type]
    assert [(f["type"], f.get("text")) for f in bob.frames()] == [("leave", "bad input")]


def test_pings_share_the_line_budget_and_a_ping_flood_is_cut() -> None:
    clock = Clock()
    hub = make_hub(flood=FloodPolicy(burst=2, rate=1.0, kick_after=3), clock=clock)
    pinger = join(hub, JsonCodec(), "pinger")
    assert [hub.control(pinger) for _ in range(4)] == [True, True, False, False]
    clock.now = 1.0
    assert hub.control(pinger)  # the budget refills
    assert not hub.control(pinger)
    assert [goodbye for goodbye, _ in pinger.closed] == [Goodbye.BAD_INPUT]


# -- leaving -------------------------------------------------------------------------------------


def test_disconnect_is_idempotent_and_publishes_one_leave() -> None:
    hub = make_hub(admission=Admission(max_per_address=1))
    web = JsonCodec()
    alice = join(hub, web, "alice", "203.0.113.9")
    bob = join(hub, web, "bob", "192.0.2.1")
    bob.clear()
    hub.disconnect(alice, "connection lost")
    hub.disconnect(alice, "connection lost")
    assert [(f["type"], f["nick"], f["text"]) for f in bob.frames()] == [("leave", "alice", "connection lost")]
    assert alice.id not in hub.clients
    assert hub.refusal(hub.budget("203.0.113.9")) is None
    hub.receive(alice, "still there?")  # input racing the disconnect is ignored
    assert len(bob.frames()) == 1


def test_quit_says_goodbye_and_closes_without_a_disconnect_notice() -> None:
    hub = make_hub()
    web = JsonCodec()
    alice, bob = join(hub, web, "alice"), join(hub, web, "bob")
    alice.clear()
    bob.clear()
    hub.receive(alice, "/quit bye all")
    goodbye, own_leave = alice.frames()
    assert goodbye == {"type": "system", "text": "Goodbye!"}
    assert (own_leave["type"], own_leave["self"]) == ("leave", True)
    assert alice.closed == [(Goodbye.QUIT, None)]
    assert [(f["type"], f["text"]) for f in bob.frames()] == [("leave", "bye all")]


def test_shutdown_tells_and_closes_everyone_without_leave_storm() -> None:
    hub = make_hub()
    clients = [join(hub, JsonCodec(), f"user{i}") for i in range(4)] + [join(hub, LineCodec(), "tcp")]
    for client in clients:
        client.clear()
    hub.shutdown()
    notice = {"type": "system", "text": "Disconnected: server restarting — reconnect in a moment", "code": "restarting"}
    for client in clients[:-1]:
        assert client.received == []
        assert client.closed == [(Goodbye.RESTARTING, json.dumps(notice, separators=(",", ":"), ensure_ascii=False))]
    assert clients[-1].received == []
    assert clients[-1].closed == [
        (Goodbye.RESTARTING, "* Disconnected: server restarting — reconnect in a moment\r\n".encode())
    ]
    assert hub.clients == {}
    assert len(hub.room) == 0
    assert hub.refusal(hub.budget("192.0.2.1")) == Refusal(Goodbye.RESTARTING)


def test_blank_input_and_unknown_clients_are_ignored() -> None:
    hub = make_hub()
    web = JsonCodec()
    alice = join(hub, web, "alice")
    alice.clear()
    hub.receive(alice, "   ")
    hub.receive(FakeClient(hub, web), "who am I")
    assert alice.received == []


def test_gateway_counts() -> None:
    hub = make_hub()
    join(hub, JsonCodec(), "a")
    join(hub, JsonCodec(), "b")
    join(hub, LineCodec(), "c")
    assert hub.gateway_counts() == {"web": 2, "telnet": 1, "tls": 0, "ssh": 0}


def test_a_long_history_is_shown_in_notices_small_enough_for_any_frame() -> None:
    hub = make_hub()
    web = JsonCodec()
    asker, talker = join(hub, web, "asker"), join(hub, web, "talker")
    for n in range(40):
        hub.receive(talker, f"line{n} " + "é" * 1000)
    asker.clear()
    hub.receive(asker, "/history 40")
    notices = [frame["text"] for frame in asker.frames() if frame["type"] == "system"]
    assert len(notices) > 1
    assert all(len(text) <= HISTORY_PART for text in notices)
    lines = "\n".join(notices).splitlines()
    assert lines[0] == "Last 40 events (UTC):"
    said = [line.split("] ")[1].split()[0] for line in lines[1:] if "[talker]" in line]
    assert said == [f"line{n}" for n in range(40)]

"""Rooms through the hub and the fan-out: who gets what, encoded how often, written how often."""

from __future__ import annotations

from hubfakes import FakeClient, JsonCodec, LineCodec, join, make_hub

from app.domain.flood import Allowance, AllowancePolicy


def test_a_room_event_reaches_its_room_only_encoded_once_per_kind() -> None:
    hub = make_hub()
    web, tcp = JsonCodec(), LineCodec()
    alice, bob = join(hub, web, "alice"), join(hub, web, "bob")
    dave, erin = join(hub, tcp, "dave"), join(hub, tcp, "erin")
    for client in (alice, bob, dave, erin):
        hub.receive(client, "/join #dev")
    carol = join(hub, web, "carol")  # in #main only
    for client in (alice, bob, carol, dave, erin):
        client.clear()
    web.calls = tcp.calls = 0

    hub.receive(dave, "in dev")

    assert carol.received == [], "not in #dev"
    assert [(f["type"], f["room"], f["text"]) for f in alice.frames()] == [("message", "#dev", "in dev")]
    assert bob.received[0] is alice.received[0], "one encoding shared by the room's web readers"
    assert erin.text() == "[dave] in dev\r\n", "the current room's lines look as they always did"
    assert (web.calls, tcp.calls) == (1, 2)  # the room's web readers; erin's copy and dave's own


def test_lines_from_another_room_carry_its_name_on_terminals() -> None:
    hub = make_hub()
    web, tcp = JsonCodec(), LineCodec()
    alice, dave = join(hub, web, "alice"), join(hub, tcp, "dave")
    hub.receive(dave, "/join #dev")  # dave's current room is #dev; he is still in #main
    dave.clear()
    hub.receive(alice, "hi main")
    hub.receive(alice, "/me waves")
    assert dave.text() == "[#main] [alice] hi main\r\n[#main] * [alice] waves\r\n"


def test_a_client_in_many_busy_rooms_gets_one_write_per_turn() -> None:
    hub = make_hub()
    web = JsonCodec()
    reader = join(hub, web, "reader")
    talkers = [join(hub, web, f"t{i}", address=f"198.51.100.{i + 2}") for i in range(19)]
    for i, talker in enumerate(talkers):
        hub.receive(talker, f"/join #r{i}")
        hub.receive(reader, f"/join #r{i}")
    reader.clear()
    for i, talker in enumerate(talkers):
        hub.receive(talker, f"line {i}")
    assert len(reader.received) == 1, "nineteen rooms spoke in this turn: one write"
    assert sorted(f["room"] for f in reader.frames()) == sorted(f"#r{i}" for i in range(19))


def test_a_nick_change_is_shown_once_to_a_client_sharing_several_of_the_rooms() -> None:
    hub = make_hub()
    web, tcp = JsonCodec(), LineCodec()
    alice, dave, erin = join(hub, web, "alice"), join(hub, tcp, "dave"), join(hub, tcp, "erin")
    for client in (alice, dave):
        hub.receive(client, "/join #dev")
    for client in (alice, dave, erin):
        client.clear()

    hub.receive(alice, "/nick ann")

    changes = [f for f in alice.frames() if f["type"] == "nick"]
    assert [(f["room"], f["old"], f["nick"]) for f in changes] == [("#main", "alice", "ann")]
    assert dave.text() == "[#main] * alice is now known as ann\r\n", "in #main and #dev: shown once"
    assert erin.text() == "* alice is now known as ann\r\n"
    ids = {f["id"] for f in changes}
    assert hub.bus.history.recent(5, "#dev")[-1].id not in ids, "#dev has an event of its own, with its own id"


def test_a_server_notice_reaches_each_client_once_whatever_its_rooms() -> None:
    hub = make_hub()
    web = JsonCodec()
    alice, bob = join(hub, web, "alice"), join(hub, web, "bob")
    hub.receive(alice, "/join #dev")
    hub.receive(alice, "/join #ops")
    alice.clear()
    bob.clear()
    hub.degraded()
    assert [f["code"] for f in alice.frames()] == ["degraded"]
    assert [f["code"] for f in bob.frames()] == ["degraded"]


def test_joining_replays_the_room_before_its_live_events() -> None:
    hub = make_hub()
    web = JsonCodec()
    alice, bob = join(hub, web, "alice"), join(hub, web, "bob")
    hub.channels[0].replay = 10  # as the gateways set it: recent events a newcomer is shown
    hub.receive(alice, "/join #dev")
    hub.receive(alice, "earlier in dev")
    bob.clear()
    hub.receive(bob, "/join #dev")
    hub.receive(alice, "now")
    frames = [(f["type"], f.get("text", ""), f.get("history", False)) for f in bob.frames() if f.get("room") == "#dev"]
    assert frames[0][0] == "room"
    assert ("message", "earlier in dev", True) in frames
    assert frames[-1] == ("message", "now", False)
    assert frames.index(("system", "— live —", False)) < frames.index(("enter", "", False))


def test_history_asked_for_in_the_chat_is_paid_from_the_address_replay_budget() -> None:
    hub = make_hub()
    hub.replay_budget = Allowance(AllowancePolicy(burst=100, rate=1))  # the test's clock stands still
    web = JsonCodec()
    alice, bob = join(hub, web, "alice"), join(hub, web, "bob", address="198.51.100.9")
    hub.channels[0].replay = 10
    hub.receive(alice, "/join #dev")
    hub.receive(alice, "d" * 300)
    for command in ("/join #dev", "/part #dev", "/join #dev", "/history 5", "/history 5"):
        hub.receive(bob, command)
    shown = [f for f in bob.frames() if f["type"] == "message" and f.get("history")]
    assert len(shown) == 1, "the first join's replay is paid for (into debt), then none"
    assert [f["code"] for f in bob.frames() if f["type"] == "error"] == ["replay_limit"] * 3
    assert hub.room.rooms.of(bob.id)[-1] == "#dev", "refused history, not a refused join"
    alice.clear()
    hub.receive(alice, "/history 5")
    assert "d" * 300 in alice.frames()[0]["text"], "another address is served"


def test_leaving_a_room_stops_its_events() -> None:
    hub = make_hub()
    web = JsonCodec()
    alice, bob = join(hub, web, "alice"), join(hub, web, "bob")
    hub.receive(alice, "/join #dev")
    hub.receive(bob, "/join #dev")
    hub.receive(bob, "/part #dev")
    bob.clear()
    hub.receive(alice, "anyone?")
    assert bob.frames() == []


def test_a_disconnect_leaves_every_room_and_frees_the_guest_seats() -> None:
    hub = make_hub()
    web = JsonCodec()
    alice, bob = join(hub, web, "alice"), join(hub, web, "bob")
    hub.receive(alice, "/join #dev")
    hub.receive(bob, "/join #dev")
    hub.receive(bob, "/join #main")  # bob's current room is #main: a guest of #dev
    alice.clear()
    bob.outbox.discard()
    hub.disconnect(bob, "bye")
    assert [(f["type"], f["room"]) for f in alice.frames()] == [("leave", "#dev"), ("leave", "#main")]
    assert all(bob.outbox not in channel.guests for channel in hub.switchboard)


def test_a_web_client_resumes_each_room_after_its_own_id() -> None:
    hub = make_hub()
    web = JsonCodec()
    alice = join(hub, web, "alice")
    hub.receive(alice, "/join #dev")
    hub.receive(alice, "d1")
    hub.receive(alice, "/join #main")
    hub.receive(alice, "m1")
    seen = {f["room"]: f["id"] for f in alice.frames() if f["type"] == "message"}
    hub.receive(alice, "m2")
    hub.receive(alice, "/join #dev")
    hub.receive(alice, "d2")
    back = FakeClient(hub, web)
    hub.connect(back, "alice2", {"#main": seen["#main"], "#dev": seen["#dev"]}, ("#dev", "#main"))
    replayed = [(f["room"], f["text"]) for f in back.frames() if f["type"] == "message" and f.get("history")]
    assert replayed == [("#dev", "d2"), ("#main", "m2")]

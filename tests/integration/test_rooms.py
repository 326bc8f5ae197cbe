"""Rooms through both doors of a real server: /join, /part, /rooms, /who, /topic, /history, a
say frame's room, and resuming several rooms from the URL."""

from __future__ import annotations

import json

from support import ServerProcess


def test_telnet_and_web_meet_in_a_room_and_the_default_room_does_not_hear_them(server: ServerProcess) -> None:
    alice, bob, carol = server.web("alice"), server.tcp(nick="bob"), server.tcp(nick="carol")
    bob.send("/join #Dev")
    bob.expect(lambda line: line.startswith("* You are now in #dev — 1 here: bob"))
    bob.expect("* No topic yet — /topic TEXT sets one")
    alice.say("/join dev")
    room = alice.expect(type="room")
    assert (room["room"], sorted(u["nick"] for u in room["users"])) == ("#dev", ["alice", "bob"])
    bob.expect("* alice joined #dev")
    bob.send("release is friday")
    said = alice.expect(type="message", nick="bob")
    assert (said["room"], said["text"]) == ("#dev", "release is friday")
    carol.send("lunch?")
    assert carol.silent() == [], "carol is in #main only: nothing of #dev reaches her"
    assert bob.expect(lambda line: "lunch?" in line) == "[#main] [carol] lunch?", "another room's line names it"


def test_a_say_frame_lands_in_its_own_room_even_after_a_switch(server: ServerProcess) -> None:
    alice, bob = server.web("alice"), server.tcp(nick="bob")
    alice.say("/join #dev")
    alice.expect(type="room", room="#dev")
    alice.ws.send(json.dumps({"type": "say", "text": "typed in main", "room": "#main"}))
    assert bob.expect(lambda line: "typed in main" in line) == "[alice] typed in main"
    alice.ws.send(json.dumps({"type": "say", "text": "nowhere", "room": "#ops"}))
    error = alice.expect(type="error")
    assert (error["code"], error["text"]) == ("not_in_room", "Not sent: you are not in #ops — /join #ops first")
    alice.ws.send(json.dumps({"type": "say", "text": "x", "room": 5}))
    assert alice.expect(type="error")["code"] == "bad_frame"
    alice.say("still fine")
    assert alice.expect(lambda e: e.get("self"), type="message")["room"] == "#dev"


def test_part_rooms_who_and_topic_on_both_doors(server: ServerProcess) -> None:
    alice, bob = server.web("alice"), server.tcp(nick="bob")
    alice.say("/join #dev")
    alice.expect(type="room")
    bob.send("/join #dev")
    bob.expect(lambda line: line.startswith("* You are now in #dev"))
    bob.send("/topic shipping 2.0")
    topic = alice.expect(type="topic")
    assert (topic["room"], topic["nick"], topic["text"]) == ("#dev", "bob", "shipping 2.0")
    bob.expect("* bob set the topic of #dev: shipping 2.0")
    alice.say("/rooms")
    listing = alice.expect(type="rooms")
    assert listing["rooms"] == [
        {"name": "#dev", "members": 2, "topic": "shipping 2.0"},
        {"name": "#main", "members": 2, "topic": ""},
    ]
    bob.send("/rooms")
    assert bob.expect(lambda line: line.startswith("* 2 rooms")) == "* 2 rooms:"
    assert [bob.read_line(), bob.read_line()] == ["  #dev (2) — shipping 2.0", "  #main (2)"]
    bob.send("/who #main")
    assert bob.expect(lambda line: " here: " in line).startswith("[#main] * 2 here: ")
    alice.say("/part #dev gotta go")
    parted = alice.expect(type="part")
    assert (parted["room"], parted["text"], parted.get("self")) == ("#dev", "gotta go", True)
    assert alice.expect(type="room")["room"] == "#main", "back in the room she was in before"
    bob.expect("* alice left #dev (gotta go)")
    alice.say("/part")
    assert alice.expect(type="error")["code"] == "last_room"


def test_history_is_the_current_rooms(server: ServerProcess) -> None:
    bob = server.tcp(nick="bob")
    bob.send("said in main")
    bob.send("/join #dev")
    bob.expect(lambda line: line.startswith("* You are now in #dev"))
    bob.send("said in dev")
    bob.send("/history")
    bob.expect("* Last 2 events (UTC):")
    shown = [bob.read_line(), bob.read_line()]
    assert shown[0].endswith("* bob joined #dev") and shown[1].endswith("[bob] said in dev"), shown


def test_bad_room_input_is_refused_clearly_and_the_connection_goes_on(server: ServerProcess) -> None:
    bob = server.tcp(nick="bob")
    bob.send("/join #no!way")
    bob.expect("! Not joined: '#no!way' is not a room name: # and 1 to 32 letters, digits, - or _")
    bob.send("/join #" + "x" * 40)
    assert bob.expect(lambda line: line.startswith("! Not joined:")).endswith("1 to 32 letters, digits, - or _")
    bob.send("/part #main")
    bob.expect("! #main is your only room: /join another first, or /quit to leave the server")
    bob.send("/who #ghosts")
    bob.expect("! No one is in #ghosts")
    bob.send("still here")
    alice = server.web("alice")
    bob.send("hello alice")
    assert alice.expect(type="message", nick="bob")["text"] == "hello alice"


def test_a_web_client_resumes_every_room_it_names_with_nothing_lost_or_doubled(server: ServerProcess) -> None:
    alice = server.web("alice", query="rooms=dev,main")
    assert (alice.welcome["room"], [r["name"] for r in alice.welcome["rooms"]]) == ("#dev", ["#main", "#dev"])
    bob = server.tcp(nick="bob")
    bob.send("/join #dev")
    bob.expect(lambda line: line.startswith("* You are now in #dev"))
    bob.send("d1")
    seen_dev = alice.expect(type="message", text="d1")["id"]
    bob.send("/join #main")
    bob.expect(lambda line: line.startswith("* You are now in #main"))
    bob.send("m1")
    seen_main = alice.expect(type="message", text="m1")["id"]
    alice.close()
    bob.send("m2")
    bob.send("/join #dev")
    bob.send("d2")
    bob.send("/who")
    bob.expect(lambda line: " here: " in line)

    back = server.web("alice", query=f"rooms=dev,main&since=dev:{seen_dev},main:{seen_main}")
    got = [e for e in back.silent(1.0) if e["type"] == "message"]
    assert [(e["room"], e["text"], e.get("history")) for e in got] == [("#main", "m2", True), ("#dev", "d2", True)]


def test_a_client_that_never_mentions_rooms_sees_what_it_always_did(server: ServerProcess) -> None:
    alice, bob = server.web("alice"), server.tcp(nick="bob")
    bob.send("plain")
    said = alice.expect(type="message", nick="bob")
    assert (said["text"], said["room"]) == ("plain", "#main")
    alice.say("back")
    assert bob.expect(lambda line: "back" in line) == "[alice] back"

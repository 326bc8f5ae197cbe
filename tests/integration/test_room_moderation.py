"""Moderation in rooms: a room's founder is its operator (kept across a restart, handed to nobody
else), /remove, invite-only rooms, a locked topic, and mutes and slow mode room by room."""

from __future__ import annotations

from collections.abc import Callable

from support import ServerProcess, TcpUser

Start = Callable[..., ServerProcess]
SECRET = "founder's secret"


def refusal(user: TcpUser) -> str:
    return user.expect(lambda line: line.startswith("!"))


def joined(user: TcpUser, room: str) -> None:
    user.send(f"/join {room}")
    user.expect(lambda line: line.startswith(f"* You are now in {room}"))


def test_the_founder_moderates_their_room_and_only_it(server: ServerProcess) -> None:
    ann = server.tcp(nick="ann")
    joined(ann, "#dev")  # ann makes #dev: its founder
    bob = server.tcp(nick="bob")
    joined(bob, "#dev")
    ann.send("/mute bob 10m")
    ann.expect("* bob was muted by ann: 10 minutes")
    bob.send("hello dev")
    assert refusal(bob) == "! Not sent: you are muted in #dev (10 minutes more); you can still read"
    bob.send("/join #main")
    bob.expect(lambda line: line.startswith("* You are now in #main"))
    bob.send("free to talk in main")  # a mute holds in its room only
    ann.expect(lambda line: line.endswith("free to talk in main"))
    ann.send("/join #main")
    ann.expect(lambda line: line.startswith("* You are now in #main"))
    ann.send("/kick bob")
    assert refusal(ann) == "! Only operators may /kick"  # #main has no founder: ann is nobody there


def test_remove_takes_someone_out_of_the_room_and_an_invite_only_room_keeps_them_out(server: ServerProcess) -> None:
    ann = server.tcp(nick="ann")
    joined(ann, "#dev")
    troll = server.web("troll")
    troll.say("/join #dev")
    troll.expect(type="room", room="#dev")
    ann.send("/lock")
    ann.expect("* #dev is invite-only now (ann): /invite NICK lets someone in")
    ann.send("/remove troll spamming")
    ann.expect("* troll was removed from the room by ann: spamming")
    parted = troll.expect(type="part", room="#dev")
    assert parted["text"] == "removed by ann: spamming"
    troll.say("/join #dev")
    assert troll.expect(type="error")["text"] == (
        "Not joined: #dev is invite-only — ask one of its operators to /invite you"
    )
    carol = server.tcp(nick="carol")
    carol.send("/join #dev")
    assert refusal(carol).startswith("! Not joined: #dev is invite-only")
    ann.send("/invite carol")
    ann.expect("* carol was invited by ann: /join #dev")
    joined(carol, "#dev")
    carol.send("/remove ann")
    assert refusal(carol) == "! Only operators may /remove"
    ann.send("/unlock")
    ann.expect("* #dev is open to all again (ann)")
    troll.say("/join #dev")
    troll.expect(type="room", room="#dev")
    ann.send("/join #main")
    ann.expect(lambda line: line.startswith("* You are now in #main"))
    ann.send("/lock")
    assert refusal(ann) == "! Only operators may /lock"


def test_a_locked_topic_is_set_by_operators_only(server: ServerProcess) -> None:
    ann = server.tcp(nick="ann")
    joined(ann, "#dev")
    bob = server.tcp(nick="bob")
    joined(bob, "#dev")
    ann.send("/topic lock")
    ann.expect("* #dev topic locked by ann: only operators may change it")
    bob.send("/topic my topic now")
    assert refusal(bob) == "! The topic of #dev is locked: only its operators may change it"
    ann.send("/topic release notes")
    bob.expect(lambda line: "release notes" in line)
    bob.send("/topic")  # reading it is for everyone
    bob.expect(lambda line: line.startswith("* Topic of #dev: release notes"))
    ann.send("/topic unlock")
    ann.expect("* #dev topic unlocked by ann")
    bob.send("/topic bob's turn")
    ann.expect(lambda line: "bob's turn" in line)


def test_a_registered_founder_is_the_founder_after_a_restart_and_nobody_else_is(start_server: Start) -> None:
    server = start_server()
    ann = server.tcp(nick="ann")
    ann.send(f"/register {SECRET}")
    ann.expect(lambda line: line.startswith("* ann is registered to you"))
    joined(ann, "#dev")
    server.stop()
    again = start_server(CHAT_DB=server.env["CHAT_DB"])
    first = again.tcp(nick="eve")  # the first in after the restart does not inherit the room
    joined(first, "#dev")
    first.send("/slow 30")
    assert refusal(first) == "! Only operators may /slow"
    ann = again.tcp()
    ann.send(f"/identify ann {SECRET}")
    ann.expect("* You are identified as ann")
    joined(ann, "#dev")
    ann.send("/slow 30")
    ann.expect("* #dev slow mode set by ann: one line every 30 seconds")
    first.send("one")
    first.send("two")
    assert refusal(first).startswith("! Not sent: #dev is in slow mode")

"""Moderation that cannot be turned against the room: a power acts in its room only, on the people
of that room, never on anyone above the one using it; a founder, a grant, a mute and a room ban
name a person, not a spelling of a nick; and a room's rules hold however the room is spelt."""

from __future__ import annotations

import json
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator

import pytest
from support import ServerProcess, TcpUser, WebUser

PASSWORD = "scope operator secret"
SECRET = "a registered secret"
Start = Callable[..., ServerProcess]


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server for the module: each test uses nicks and rooms of its own."""
    env = {"CHAT_OPERATOR_PASSWORD": PASSWORD, "CHAT_RATE": "0"}
    server = ServerProcess(tmp_path_factory.mktemp("scope"), env).start()
    yield server
    server.stop()


def say_in(user: WebUser, room: str, text: str) -> None:
    """What a page sends from a room's tab: the room as the page spells it."""
    user.send_raw(json.dumps({"type": "say", "room": room, "text": text}))


def web_from(server: ServerProcess, address: str, nick: str, query: str = "") -> WebUser:
    """A web user whose address, as the trusted proxy (loopback) forwards it, is ``address``."""
    return server.web(nick, query=query, headers={"X-Forwarded-For": address})


def joined(user: TcpUser, room: str) -> None:
    user.send(f"/join {room}")
    user.expect(lambda line: line.startswith(f"* You are now in {room}"))


def web_joined(user: WebUser, room: str) -> None:
    user.say(f"/join {room}")
    user.expect(type="room", room=room)


def server_operator(server: ServerProcess, nick: str) -> TcpUser:
    """A terminal user who has proved the operator password."""
    op = server.tcp(nick=nick)
    op.send(f"/oper {PASSWORD}")
    op.expect(f"* {nick} is now a server operator")
    return op


def refusal(user: TcpUser) -> str:
    return user.expect(lambda line: line.startswith("!"))


def error(user: WebUser) -> str:
    return str(user.expect(type="error")["text"])


def still_connected(speaker: TcpUser, listener: WebUser | TcpUser, text: str) -> None:
    """``speaker`` is still on the server: ``listener`` hears it say ``text``."""
    speaker.send(text)
    if isinstance(listener, WebUser):
        listener.expect(type="message", nick=speaker.nick, text=text)
    else:
        listener.expect(f"[{speaker.nick}] {text}")


def test_a_guest_who_made_a_room_cannot_kick_anyone_outside_it(shared: ServerProcess) -> None:
    victim = shared.tcp(nick="victim")
    op = shared.tcp(nick="bigop")
    op.send(f"/oper {PASSWORD}")
    op.expect("* bigop is now a server operator")
    guest = shared.web("kicker")
    web_joined(guest, "#x")  # kicker made #x: its operator for this session
    say_in(guest, "#x", "/kick victim")
    assert error(guest) == "victim is not in #x"
    say_in(guest, "#x", "/kick bigop")
    assert error(guest) == "bigop is not in #x"
    say_in(guest, "#main", "/kick victim")
    assert error(guest) == "Only operators may /kick"
    say_in(guest, "#x", "/modlog #main")  # a command naming its room is judged there
    assert error(guest) == "Only operators of #main may read its /modlog"
    still_connected(victim, guest, "still here")
    joined(op, "#x")
    say_in(guest, "#x", "/kick bigop")  # inside the room, a server operator is still above them
    assert error(guest) == "bigop is a server operator: you cannot /kick them"
    say_in(guest, "#x", "/mute bigop")
    assert error(guest) == "bigop is a server operator: you cannot /mute them"
    op.send("words of a server operator")
    said = guest.expect(type="message", nick="bigop", text="words of a server operator")
    say_in(guest, "#x", f"/redact {said['id']}")
    assert error(guest) == "bigop is a server operator: you cannot /redact them"
    joined(victim, "#x")
    say_in(guest, "#x", "/kick victim enough")  # a room operator's kick takes them out of the room only
    victim.expect("* victim was removed from the room by kicker: enough")
    victim.expect(lambda line: line.startswith("* You are now in #main"))
    still_connected(victim, guest, "out of #x, not off the server")
    telnet_guest = shared.tcp(nick="tkicker")
    joined(telnet_guest, "#y")  # the same from a terminal, whose commands act in its current room
    telnet_guest.send("/kick victim")
    assert refusal(telnet_guest) == "! victim is not in #y"
    telnet_guest.send("/ban victim")
    assert refusal(telnet_guest) == "! Only server operators may /ban"
    still_connected(victim, guest, "and still here")


def test_a_stranger_who_registers_a_guest_founders_nick_gets_no_powers(shared: ServerProcess) -> None:
    maker = shared.web("maker")
    web_joined(maker, "#den")
    maker.say("/nick maker2")
    maker.expect(type="nick", nick="maker2")
    stranger = shared.tcp(nick="maker")
    stranger.send(f"/register {SECRET}")
    stranger.expect(lambda line: line.startswith("* maker is registered to you"))
    joined(stranger, "#den")
    stranger.send("/slow 30")
    assert refusal(stranger) == "! Only operators may /slow"
    maker.say("/topic lock")  # the guest who made it still runs it, whatever its nick now
    maker.expect(type="moderation", text="#den topic locked by maker2: only operators may change it")
    maker.close()
    stranger.expect(lambda line: line.startswith("* maker2 left"))
    stranger.send("/topic unlock")  # once the guest has gone the room has no owner: nobody inherits it
    assert refusal(stranger) == "! Only operators may /topic unlock"
    first = shared.tcp(nick="firstin")
    joined(first, "#den")  # arriving first in an ownerless room grants nothing
    first.send("/lock")
    assert refusal(first) == "! Only operators may /lock"


def test_a_maker_gone_before_its_founding_is_settled_leaves_the_room_to_nobody(shared: ServerProcess) -> None:
    """The founding is settled when the entry is delivered: a maker who left (or renamed) before
    that hands the room to no one who takes its nick."""
    for leaving, nick, room in (("/quit", "quickmaker", "#fleeting"), ("/nick renamer2", "renamer", "#renamed")):
        maker = shared.tcp(nick=nick)
        maker.send_raw(f"/join {room}\r\n{leaving}\r\n".encode())  # one write: both before the delivery
        if leaving == "/quit":
            assert maker.closed()
        else:
            maker.expect("[#main] * renamer is now known as renamer2")
        taker = shared.tcp(nick=nick)
        joined(taker, room)
        taker.send("/slow 5")
        assert refusal(taker) == "! Only operators may /slow"


def test_nobody_below_a_server_operator_lifts_a_sanction_on_themselves(shared: ServerProcess) -> None:
    founder = shared.tcp(nick="selfish")
    joined(founder, "#selfish")
    op = server_operator(shared, "liftop")
    joined(op, "#selfish")
    op.send("/mute selfish 1h")
    op.expect("* selfish was muted by liftop: 1 hour")
    founder.send("/unmute selfish")
    assert refusal(founder) == "! You cannot lift your own mute: another operator can"
    founder.send("still muted?")
    assert refusal(founder).startswith("! Not sent: you are muted in #selfish")
    op.send("/unmute selfish")
    op.expect("* selfish was unmuted by liftop")


def test_a_terminal_asking_first_for_a_banned_nick_is_refused_before_any_welcome(shared: ServerProcess) -> None:
    """As the web refuses ``?nick=`` of a banned nick, so the line door refuses a first ``/nick``:
    no guest nick, no look at who is here, no join announced."""
    op = server_operator(shared, "doorop")
    op.send("/ban doorbanned 10m")
    op.expect("* doorbanned was banned by doorop: 10 minutes")
    with socket.create_connection(("127.0.0.1", shared.tcp_port), timeout=5) as sock:
        sock.sendall(b"/nick DoorBanned\r\n")  # typed at once, before the quiet grace ends
        said = b""
        while chunk := sock.recv(4096):
            said += chunk
    assert said.decode().splitlines() == ["! Connection refused: you are banned (no reason given; 10 minutes left)"]
    assert not [line for line in op.silent() if "joined" in line]


def test_a_password_prompt_left_open_does_not_keep_anyone_in_a_room(shared: ServerProcess) -> None:
    """Taken out of a room while asked for a password: out it goes, and the removal is no guess."""
    founder = shared.tcp(nick="promptboss")
    joined(founder, "#prompted")
    pest = web_from(shared, "203.0.113.60", "promptpest")
    web_joined(pest, "#prompted")
    founder.expect("* promptpest joined #prompted")
    pest.say("/oper")  # the next line would be the password
    pest.expect(lambda event: event["type"] == "system" and event["text"].startswith("Send the password"))
    founder.send("/roomban promptpest 1h go away")
    assert pest.expect(type="part", room="#prompted")["text"] == "removed by promptboss: 1 hour, go away"
    founder.send("/who")
    founder.expect("* 1 here: promptboss (telnet)")
    pest.say(PASSWORD)  # the prompt is still open, for what it asked
    pest.expect(type="moderation", text="promptpest is now a server operator")
    assert not [event for event in pest.events if event.get("code") == "wrong_password"]


def test_a_guest_who_registers_in_the_session_founds_the_room_it_made(shared: ServerProcess) -> None:
    owner = shared.tcp(nick="keeper")
    joined(owner, "#kept")
    owner.send(f"/register {SECRET}")
    owner.expect(lambda line: line.startswith("* keeper is registered to you"))
    owner.close()
    back = shared.tcp()
    back.send(f"/identify keeper {SECRET}")
    back.expect("* You are identified as keeper")
    joined(back, "#kept")
    back.send("/slow 5")
    back.expect("* #kept slow mode set by keeper: one line every 5 seconds")
    back.send("/slow off")
    back.expect("* #kept slow mode set by keeper: off")


def a_room_of_three(
    server: ServerProcess, room: str, founder: str, guest: str, address: str, member: str
) -> tuple[TcpUser, WebUser, TcpUser]:
    """A telnet guest's new room, with a web guest from ``address`` and a telnet guest in it."""
    made = server.tcp(nick=founder)
    joined(made, room)
    web = web_from(server, address, guest, f"rooms={room[1:]}")
    telnet = server.tcp(nick=member)
    joined(telnet, room)
    return made, web, telnet


def test_a_mute_survives_a_nick_change_and_reconnecting(shared: ServerProcess) -> None:
    founder, noisy, lurker = a_room_of_three(shared, "#quiet", "mutefounder", "noisy", "203.0.113.20", "lurker")
    founder.send("/mute noisy 10m")
    founder.expect("* noisy was muted by mutefounder: 10 minutes")
    founder.send("/mute lurker")
    founder.expect("* lurker was muted by mutefounder: permanent")
    noisy.say("/nick fresh")
    noisy.expect(type="nick", nick="fresh")
    noisy.say("new nick, same person")
    assert error(noisy) == "Not sent: you are muted in #quiet (10 minutes more); you can still read"
    noisy.close()
    again = web_from(shared, "203.0.113.20", "other", "rooms=quiet")  # another nick, the same address
    again.say("a new connection")
    assert error(again).startswith("Not sent: you are muted in #quiet")
    lurker.close()
    back = shared.tcp(nick="lurker")  # loopback is no one's address: the guest's nick still holds
    joined(back, "#quiet")
    back.send("back again")
    assert refusal(back) == "! Not sent: you are muted in #quiet (until unmuted); you can still read"
    back.send("/topic muted people set no topics")
    assert refusal(back) == "! Topic not set: you are muted in #quiet"
    back.send("/part #quiet buy cheap pills")  # leaving is free; the reason would be said to the room
    founder.expect("* lurker left #quiet")
    founder.send("/unmute fresh")  # gone: nobody of that nick, nor muted under it
    assert refusal(founder) == "! fresh is not muted"
    founder.send("/unmute other")  # whoever the mute holds now
    founder.expect("* other was unmuted by mutefounder")
    again.say("heard at last")
    founder.expect("[other] heard at last")


SPELLINGS = ["main", "#MAIN", "Main", "#main"]


def test_mutes_slow_mode_and_a_locked_topic_hold_however_the_frame_spells_the_room(shared: ServerProcess) -> None:
    op = shared.tcp(nick="spellop")
    op.send(f"/oper {PASSWORD}")
    op.expect("* spellop is now a server operator")
    speller = shared.web("speller")
    op.send("/mute speller 10m")
    op.expect("* speller was muted by spellop: 10 minutes")
    for spelling in SPELLINGS:
        for line in ("spelt differently", "/me spells", "/msg spellop psst"):
            say_in(speller, spelling, line)
            assert error(speller) == "Not sent: you are muted in #main (10 minutes more); you can still read"
    op.send("/unmute speller")
    op.expect("* speller was unmuted by spellop")
    op.send("/slow 60")
    op.expect("* #main slow mode set by spellop: one line every 1 minute")
    say_in(speller, "#main", "one line")
    op.expect("[speller] one line")
    for spelling in SPELLINGS:
        say_in(speller, spelling, "and another")
        assert error(speller).startswith("Not sent: #main is in slow mode, one line every 1 minute")
    op.send("/slow off")
    op.expect("* #main slow mode set by spellop: off")
    op.send("/topic lock")
    op.expect("* #main topic locked by spellop: only operators may change it")
    for spelling in SPELLINGS:
        say_in(speller, spelling, "/topic mine now")
        assert error(speller) == "The topic of #main is locked: only its operators may change it"
    op.send("/topic unlock")
    op.expect("* #main topic unlocked by spellop")
    say_in(speller, "#no room", "hello")
    assert error(speller).startswith("Not sent: '#no room' is not a room name")
    say_in(speller, "elsewhere", "/kick spellop")
    assert error(speller) == "Not sent: you are not in #elsewhere — /join #elsewhere first"
    say_in(speller, "MAIN", "the room, spelt anyhow")
    assert op.expect(lambda line: "spelt anyhow" in line) == "[speller] the room, spelt anyhow"


def test_a_room_ban_keeps_the_person_out(shared: ServerProcess) -> None:
    founder, pest, sulker = a_room_of_three(shared, "#club", "banfounder", "pest", "203.0.113.30", "sulker")
    founder.send("/roomban pest 1h spamming")
    founder.expect("* pest was banned from the room by banfounder: 1 hour, spamming")
    assert pest.expect(type="part", room="#club")["text"] == "removed by banfounder: 1 hour, spamming"
    pest.say("/join #CLUB")
    assert error(pest) == "Not joined: you are banned from #club (1 hour left): spamming"
    pest.say("/nick newface")
    pest.expect(type="nick", nick="newface")
    pest.say("/join #club")
    assert error(pest).startswith("Not joined: you are banned from #club")
    pest.close()
    back = web_from(shared, "203.0.113.30", "another", "rooms=CLUB")  # the address is kept out too
    assert back.welcome["room"] == "#main"
    founder.send("/roomban sulker")
    founder.expect("* sulker was banned from the room by banfounder: permanent")
    sulker.expect(lambda line: line.startswith("* You are now in #main"))
    sulker.send("/join #club")
    assert refusal(sulker) == "! Not joined: you are banned from #club (permanent)"
    founder.send("/roombans")
    founder.expect("* Banned from #club: 2")
    assert founder.read_line() == "  pest by banfounder, 1 hour left: spamming"
    assert founder.read_line() == "  sulker by banfounder, permanent"
    founder.send("/roomunban sulker")
    founder.expect("* sulker may come back to the room (banfounder)")
    joined(sulker, "#club")
    sulker.send("/roomban banfounder")
    assert refusal(sulker) == "! Only operators may /roomban"
    founder.send("/roomban nobodyhere")
    assert refusal(founder) == "! No one here is called nobodyhere"


def test_with_redis_a_rooms_powers_stop_at_its_door_and_a_mute_follows_the_person(
    start_server: Start, redis_server: object
) -> None:
    shared_env = {"REDIS_URL": redis_server.url, "CHAT_REDIS_HEARTBEAT": "0.3", "CHAT_RATE": "0"}
    a, b = start_server(**shared_env), start_server(**shared_env)
    guest = a.web("kicker")
    victim = b.tcp(nick="victim")
    guest.expect(type="nick", nick="victim")  # the other process's user is known here
    web_joined(guest, "#x")
    say_in(guest, "#X", "/kick victim")
    assert error(guest) == "victim is not in #x"
    joined(victim, "#x")
    guest.expect(type="enter", nick="victim")
    say_in(guest, "x", "/mute victim 5m")
    guest.expect(type="moderation", text="victim was muted by kicker: 5 minutes")
    victim.send("/nick escapee")
    victim.expect(lambda line: line.endswith("is now known as escapee"))
    victim.nick = "escapee"
    guest.expect(type="nick", nick="escapee")  # the other process has seen the change too
    victim.send("muted still?")
    assert refusal(victim) == "! Not sent: you are muted in #x (5 minutes more); you can still read"
    say_in(guest, "#x", "/kick escapee")  # the founder's kick takes them out of #x, across processes
    victim.expect("* escapee was removed from the room by kicker")
    still_connected(victim, guest, "still on the server")


def test_founders_and_grants_stored_by_nick_are_kept_only_for_registered_nicks(start_server: Start) -> None:
    first = start_server()
    owner = first.tcp(nick="oldowner")
    owner.send(f"/register {SECRET}")
    owner.expect(lambda line: line.startswith("* oldowner is registered to you"))
    first.stop()
    with sqlite3.connect(first.env["CHAT_DB"]) as db:  # what an earlier release wrote: nicks, not people
        db.executemany(
            "INSERT INTO moderation (tbl, key, record) VALUES (?, ?, ?)",
            [
                ("founders", "#kept", "oldowner"),
                ("founders", "#lost", "drifter"),
                ("ops", "#lost oldowner", "oldowner"),
                ("ops", "#kept drifter", "drifter"),
            ],
        )
    again = start_server(CHAT_DB=first.env["CHAT_DB"])
    drifter = again.tcp(nick="drifter")
    drifter.send(f"/register {SECRET}")  # a stranger registering the nick now inherits nothing
    drifter.expect(lambda line: line.startswith("* drifter is registered to you"))
    for room in ("#lost", "#kept"):
        joined(drifter, room)
        drifter.send("/slow 10")
        assert refusal(drifter) == "! Only operators may /slow"
    owner = again.tcp()
    owner.send(f"/identify oldowner {SECRET}")
    owner.expect("* You are identified as oldowner")
    for room in ("#kept", "#lost"):  # the founder of one, granted the other
        joined(owner, room)
        owner.send("/slow 10")
        owner.expect(f"* {room} slow mode set by oldowner: one line every 10 seconds")


def test_a_lapsed_registration_takes_its_rooms_with_it(start_server: Start) -> None:
    server = start_server(CHAT_NICK_EXPIRY="0.00002")  # 1.7 seconds
    ann = server.tcp(nick="ann")
    ann.send(f"/register {SECRET}")
    ann.expect(lambda line: line.startswith("* ann is registered to you"))
    registered = time.monotonic()
    joined(ann, "#annex")
    ann.send("/lock")
    ann.expect("* #annex is invite-only now (ann): /invite NICK lets someone in")
    ann.close()
    time.sleep(max(0.0, registered + 2 - time.monotonic()))
    stranger = server.tcp(nick="ann")  # the nick is free again, and registered anew by someone else
    stranger.send(f"/register {SECRET} too")
    stranger.expect(lambda line: line.startswith("* ann is registered to you"))
    stranger.send("/join #annex")
    assert refusal(stranger).startswith("! Not joined: #annex is invite-only")

"""Moderation on both doors: operators, kicks, bans (by nick, address and range), mutes, ignores,
the audit log, and what each refusal tells the person refused."""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from proxyheaders import v1
from support import DEFAULT_TIMEOUT, ServerProcess, TcpUser, WebUser
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

Start = Callable[..., ServerProcess]
T = TypeVar("T")
PASSWORD = "correct horse battery"
OPERATOR = {"CHAT_OPERATOR_PASSWORD": PASSWORD, "CHAT_RATE": "0"}


@pytest.fixture
def moderated(start_server: Start) -> ServerProcess:
    return start_server(**OPERATOR)


def oper(user: TcpUser, password: str = PASSWORD) -> None:
    user.send(f"/oper {password}")
    user.expect(f"* {user.nick} is now a server operator")


def web_from(server: ServerProcess, address: str, nick: str | None = None, query: str = "") -> WebUser:
    """A web user whose address, as the trusted proxy (loopback) forwards it, is ``address``."""
    return server.web(nick, query=query, headers={"X-Forwarded-For": address})


def refused_web(server: ServerProcess, address: str, query: str = "") -> tuple[str, int, str]:
    """Connect through the proxy as ``address`` and be turned away: (the line shown, close code, close reason)."""
    url = server.ws_url + (f"?{query}" if query else "")
    with connect(url, additional_headers={"X-Forwarded-For": address}, open_timeout=DEFAULT_TIMEOUT) as ws:
        shown = json.loads(ws.recv(DEFAULT_TIMEOUT))
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(DEFAULT_TIMEOUT)
    assert closed.value.rcvd is not None
    return shown["text"], closed.value.rcvd.code, closed.value.rcvd.reason


def soon(attempt: Callable[[], T]) -> T:
    """What ``attempt`` returns once it succeeds, allowing a process the moment it takes to re-read
    the shared bans after an announcement (one Redis round trip; on a loaded machine, maybe more)."""
    deadline = time.monotonic() + DEFAULT_TIMEOUT
    while True:
        try:
            return attempt()
        except (pytest.fail.Exception, ConnectionClosed):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def closed_with(user: WebUser) -> tuple[int, str]:
    """Read until the server closes the WebSocket: its close code and reason."""
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            user.next()
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def test_oper_on_both_doors_badges_the_operator_and_never_shows_the_password(moderated: ServerProcess) -> None:
    alice = moderated.tcp(nick="alice")
    bob = moderated.web("bob")
    alice.send("/oper guess")
    assert alice.expect(lambda line: line.startswith("!")) == "! Wrong password"
    oper(alice)
    announced = bob.expect(type="moderation")
    assert announced["text"] == "alice is now a server operator"
    bob.say("/oper " + PASSWORD)
    assert bob.expect(type="moderation")["text"] == "bob is now a server operator"
    alice.send("/who")
    assert alice.expect(lambda line: " here: " in line) == "* 2 here: alice (telnet, op), bob (web, op)"
    carol = moderated.web("carol")
    assert {u["nick"]: u.get("op", False) for u in carol.welcome["users"]} == {
        "alice": True,
        "bob": True,
        "carol": False,
    }
    seen = json.dumps(carol.silent(0.3)) + json.dumps(bob.events) + "\n".join(alice.lines)
    assert PASSWORD not in seen and "guess" not in seen
    assert PASSWORD not in moderated.output() and "/oper" not in moderated.output()


def test_oper_guesses_are_limited_per_address_even_with_the_right_password(start_server: Start) -> None:
    server = start_server(**OPERATOR, CHAT_TCP_PROXY_PROTOCOL="1")
    guesser = server.tcp(preamble=v1("203.0.113.50"))
    for attempt in range(5):
        guesser.send(f"/oper wrong{attempt}")
        assert guesser.expect(lambda line: line.startswith("!")) == "! Wrong password"
    guesser.send(f"/oper {PASSWORD}")
    assert guesser.expect(lambda line: line.startswith("!")).startswith("! Too many password attempts: try again in ")
    elsewhere = server.tcp(preamble=v1("198.51.100.50"))
    oper(elsewhere)  # another address is not held back by this one's guesses


def test_without_an_operator_password_nobody_is_an_operator(server: ServerProcess) -> None:
    ann = server.tcp(nick="ann")
    ann.send("/oper anything")
    assert ann.expect(lambda line: line.startswith("!")) == (
        "! No operator password is set on this server (CHAT_OPERATOR_PASSWORD)"
    )


@pytest.mark.parametrize("command", ["/kick bob", "/ban bob", "/unban bob", "/bans", "/mute bob", "/modlog"])
def test_members_may_not_moderate(moderated: ServerProcess, command: str) -> None:
    ann = moderated.tcp(nick="ann")
    bob = moderated.web("bob")
    ann.send(command)
    refusal = ann.expect(lambda line: line.startswith("!"))
    assert refusal.startswith("! Only ") and "operators may" in refusal
    assert bob.silent(0.2) == [] or all(e["type"] != "moderation" for e in bob.events)


def test_an_operator_kicks_a_web_user_who_is_told_why(moderated: ServerProcess) -> None:
    op = moderated.tcp(nick="op")
    oper(op)
    bob = moderated.web("bob")
    watcher = moderated.tcp(nick="watcher")
    op.send("/kick bob flooding the room")
    assert watcher.expect(lambda line: "kicked" in line) == "* bob was kicked by op: flooding the room"
    assert bob.expect(type="error")["text"] == "Disconnected: you were kicked (flooding the room)"
    assert closed_with(bob) == (4010, "kicked: flooding the room")
    watcher.expect("* bob left (flooding the room)")
    op.send("/kick nobody")
    assert op.expect(lambda line: line.startswith("!")) == "! No one here is called nobody"


def test_a_web_operator_kicks_a_telnet_user(moderated: ServerProcess) -> None:
    op = moderated.web("op")
    op.say("/oper " + PASSWORD)
    op.expect(type="moderation")
    ann = moderated.tcp(nick="ann")
    op.say("/kick ann")
    assert ann.expect(lambda line: line.startswith("!")) == "! Disconnected: you were kicked"
    assert ann.closed()
    assert op.expect(type="moderation")["text"] == "ann was kicked by op"


def test_a_ban_by_nick_closes_the_user_and_covers_their_address_on_both_doors(start_server: Start) -> None:
    server = start_server(**OPERATOR, CHAT_TCP_PROXY_PROTOCOL="1")
    op = server.web("op")
    op.say("/oper " + PASSWORD)
    op.expect(type="moderation")
    spammo = web_from(server, "203.0.113.7", "spammo")
    op.say("/ban spammo spamming")
    assert op.expect(type="moderation")["text"] == "spammo was banned by op: permanent, spamming"
    assert spammo.expect(type="error")["text"] == "Connection refused: you are banned (spamming; permanent)"
    code, reason = closed_with(spammo)
    assert (code, reason) == (4011, "banned: spamming; permanent")
    # Back with another nick from the same address, by either door: still banned, a day at most.
    line, code, reason = refused_web(server, "203.0.113.7", "nick=innocent")
    assert code == 4011 and line.startswith("Connection refused: you are banned (spamming; ")
    assert "1 day left" in line
    with pytest.raises(EOFError):
        TcpUser(server.tcp_port, preamble=v1("203.0.113.7"))
    # The nick itself stays banned from anywhere, with no end.
    line, code, _ = refused_web(server, "198.51.100.1", "nick=spammo")
    assert code == 4011 and line == "Connection refused: you are banned (spamming; permanent)"
    other = server.tcp(preamble=v1("198.51.100.2"))
    other.send("/nick spammo")  # asking for it on telnet is refused the same way, with the ban's notice
    notice = "Connection refused: you are banned (spamming; permanent)"
    assert other.expect(lambda line: line.startswith("!")) == f"! {notice}"
    assert other.closed()
    web = web_from(server, "198.51.100.3")
    web.say("/nick spammo")
    assert web.expect(type="error")["text"] == notice
    assert closed_with(web) == (4011, "banned: spamming; permanent")


def test_address_and_range_bans_with_durations_list_and_lift(start_server: Start) -> None:
    server = start_server(**OPERATOR, CHAT_TCP_PROXY_PROTOCOL="1")
    op = server.tcp(nick="op", preamble=v1("192.0.2.1"))
    oper(op)
    op.send("/ban 203.0.113.0/24 2h a noisy network")
    op.expect("* 203.0.113.0/24 was banned by op: 2 hours, a noisy network")
    op.send("/ban 198.51.100.9 10m")
    op.expect("* 198.51.100.9 was banned by op: 10 minutes")
    op.send("/bans")
    assert op.read_line() == "* 2 bans:"
    assert op.read_line() == "  203.0.113.0/24 (address) by op, 2 hours left: a noisy network"
    assert op.read_line() == "  198.51.100.9 (address) by op, 10 minutes left"
    line, code, _ = refused_web(server, "203.0.113.200")
    assert (line, code) == ("Connection refused: you are banned (a noisy network; 2 hours left)", 4011)
    sock_lines = _refused_tcp(server, "198.51.100.9")
    assert sock_lines == "! Connection refused: you are banned (no reason given; 10 minutes left)"
    op.send("/unban 203.0.113.0/24")
    op.expect("* 203.0.113.0/24 was unbanned by op")
    web_from(server, "203.0.113.200", "welcome-back").say("thanks")
    op.expect("[welcome-back] thanks")
    op.send("/unban 203.0.113.0/24")
    assert op.expect(lambda line: line.startswith("!")) == "! No ban on '203.0.113.0/24': /bans lists them"
    op.send("/bans")
    assert op.expect(lambda line: line.endswith(":")) == "* 1 ban:"
    op.send("/ban 127.0.0.1")
    assert op.expect(lambda line: line.startswith("!")) == (
        "! 127.0.0.1 is loopback or a trusted proxy: a ban would shut out all behind it"
    )
    op.send("/ban no/such!thing")
    assert op.expect(lambda line: line.startswith("!")) == (
        "! 'no/such!thing' is neither a nick, an address nor a network"
    )
    op.send("/ban")
    assert op.expect(lambda line: line.startswith("!")).startswith("! Usage: /ban NICK|ADDRESS|CIDR [DURATION]")


def _refused_tcp(server: ServerProcess, address: str) -> str:
    with pytest.raises(EOFError) as refused:
        TcpUser(server.tcp_port, preamble=v1(address))
    return str(refused.value).split("seen: ")[1].strip("[]'")


def test_bans_survive_a_restart(start_server: Start) -> None:
    server = start_server(**OPERATOR)
    op = server.tcp(nick="op")
    oper(op)
    op.send("/ban 203.0.113.0/24 7d persistent pest")
    op.expect(lambda line: "was banned" in line)
    server.stop()
    again = start_server(**OPERATOR, CHAT_DB=server.env["CHAT_DB"])
    line, code, _ = refused_web(again, "203.0.113.4")
    assert code == 4011 and line.startswith("Connection refused: you are banned (persistent pest; ")
    op = again.tcp(nick="op")
    oper(op)
    op.send("/modlog")
    assert op.expect(lambda line: "moderation actions" in line) == "* Last 3 moderation actions (UTC):"
    logged = [op.read_line() for _ in range(3)]
    assert logged[1].endswith("203.0.113.0/24 was banned by op: 7 days, persistent pest")


def test_a_muted_user_reads_but_cannot_speak(moderated: ServerProcess) -> None:
    op = moderated.tcp(nick="op")
    oper(op)
    ann = moderated.web("ann")
    bob = moderated.tcp(nick="bob")
    op.send("/mute bob 10m")
    op.expect("* bob was muted by op: 10 minutes")
    for line in ("hello?", "/me waves", "/msg ann psst"):
        bob.send(line)
        refusal = bob.expect(lambda text: text.startswith("!"))
        assert refusal == "! Not sent: you are muted in #main (10 minutes more); you can still read"
    ann.say("bob can read this")
    bob.expect("[ann] bob can read this")
    op.send("/mute bob forever")
    assert op.expect(lambda line: line.startswith("!")) == "! 'forever' is not a duration (30s, 10m, 2h, 7d or perm)"
    op.send("/unmute bob")
    op.expect("* bob was unmuted by op")
    bob.send("back")
    assert ann.expect(type="message", nick="bob")["text"] == "back"
    assert all(e.get("text") != "hello?" for e in ann.events)


def test_ignore_hides_one_persons_lines_for_the_session_on_both_doors(moderated: ServerProcess) -> None:
    troll = moderated.tcp(nick="troll")
    ann = moderated.web("ann")
    bob = moderated.tcp(nick="bob")
    ann.say("/ignore troll")
    assert "Ignoring troll" in ann.expect(type="system")["text"]
    bob.send("/ignore TROLL")
    bob.expect(lambda line: line.startswith("* Ignoring TROLL"))
    troll.send("noise")
    troll.send("/me shouts")
    bob.send("signal")
    assert ann.expect(type="message")["text"] == "signal"
    assert [e for e in ann.events if e.get("nick") == "troll" and e["type"] in ("message", "action")] == []
    bob.send("/unignore troll")
    bob.expect("* No longer ignoring troll")
    troll.send("audible")
    bob.expect("[troll] audible")
    bob.send("/unignore troll")
    assert bob.expect(lambda line: line.startswith("!")) == "! You are not ignoring troll"


def test_with_redis_a_ban_and_a_kick_hold_in_every_process_at_once(start_server: Start, redis_server) -> None:
    shared = {**OPERATOR, "REDIS_URL": redis_server.url, "CHAT_REDIS_HEARTBEAT": "0.3"}
    a, b = start_server(**shared), start_server(**shared)
    op = a.tcp(nick="op")
    oper(op)
    spammo = web_from(b, "203.0.113.9", "spammo")
    noisy = b.tcp(nick="noisy")
    op.expect(lambda line: line.endswith("is now known as noisy"))
    op.send("/kick noisy calm down")
    assert noisy.expect(lambda line: line.startswith("!")) == "! Disconnected: you were kicked (calm down)"
    op.send("/ban spammo 2h spamming")
    assert spammo.expect(type="error")["text"] == "Connection refused: you are banned (spamming; 2 hours left)"
    assert closed_with(spammo)[0] == 4011
    op.expect("* spammo was banned by op: 2 hours, spamming")
    for server in (a, b):  # the nick's address is banned in both processes, whichever held it
        line, code, _ = soon(functools.partial(refused_web, server, "203.0.113.9", "nick=someone"))
        assert code == 4011 and "spamming" in line
    later = start_server(**shared)  # a process started afterwards reads the bans from Redis
    assert refused_web(later, "203.0.113.9")[1] == 4011
    op.send("/unban spammo")
    op.expect("* spammo was unbanned by op")
    assert soon(lambda: web_from(b, "203.0.113.9", "spammo")).nick == "spammo"


def test_slow_mode_spaces_out_a_rooms_lines_but_not_its_operators(start_server: Start) -> None:
    server = start_server(**OPERATOR)
    op = server.web("op")
    op.say("/oper " + PASSWORD)
    op.expect(type="moderation")
    ann = server.tcp(nick="ann")
    op.say("/slow 1h")
    assert op.expect(type="error")["text"] == "Usage: /slow SECONDS — 1 to 3600, or off"
    op.say("/slow 600")
    ann.expect("* #main slow mode set by op: one line every 10 minutes")
    ann.send("first")
    ann.send("second")
    assert ann.expect(lambda line: line.startswith("!")) == (
        "! Not sent: #main is in slow mode, one line every 10 minutes: wait 10 minutes"
    )
    ann.send("/msg op privately")  # a private message is not the room's
    assert op.expect(type="private")["text"] == "privately"
    op.say("ops are not slowed")
    op.say("twice")
    ann.expect("[op] twice")
    assert [e["text"] for e in op.events if e["type"] == "message" and e["nick"] == "ann"] == ["first"]
    server.stop()  # slow mode outlasts a restart
    again = start_server(**OPERATOR, CHAT_DB=server.env["CHAT_DB"])
    bob = again.tcp(nick="bob")
    bob.send("one")
    bob.send("two")
    assert bob.expect(lambda line: line.startswith("!")).startswith("! Not sent: #main is in slow mode")
    op = again.tcp(nick="op")
    oper(op)
    op.send("/slow off")
    op.expect("* #main slow mode set by op: off")
    bob.send("free again")
    op.expect("[bob] free again")


def test_redact_removes_a_message_from_history_and_from_every_open_page(start_server: Start) -> None:
    server = start_server(**OPERATOR, CHAT_WEB_HISTORY="50")
    op = server.tcp(nick="op")
    oper(op)
    ann = server.web("ann")
    reader = server.web("reader")
    ann.say("something awful")
    said = ann.expect(lambda e: e["type"] == "message" and e.get("self"))
    ann.say("something fine")
    reader.expect(type="message", text="something fine")
    op.send(f"/redact {said['id']}")
    op.expect("* a message from ann was removed by op")
    removal = reader.expect(type="moderation", code="redact")
    assert removal["target"] == str(said["id"]) and removal["text"] == "a message from ann was removed by op"
    op.send("/history 5")
    op.expect(lambda line: line.startswith("* Last "))
    shown = [op.read_line() for _ in range(5)]
    assert f"  #{said['id']} " in "\n".join(shown) and any(line.endswith("[ann] (message removed)") for line in shown)
    assert not any("awful" in line for line in shown)
    newcomer = server.web("newcomer")
    replayed = newcomer.expect(type="message", id=said["id"])
    assert replayed.get("text", "") == "" and replayed["code"] == "redacted"
    op.send(f"/redact {said['id']}")
    assert op.expect(lambda line: line.startswith("!")) == f"! No message #{said['id']} in the history kept: /redact ID"
    op.send("/redact 999999")
    assert op.expect(lambda line: line.startswith("!")) == "! No message #999999 in the history kept: /redact ID"
    server.stop()
    again = start_server(**OPERATOR, CHAT_WEB_HISTORY="50", CHAT_DB=server.env["CHAT_DB"])
    later = again.web("later")
    history = [later.next() for _ in range(8)]
    texts = [e.get("text") for e in history if e["type"] == "message"]
    assert "something fine" in texts and "something awful" not in texts, history

"""One room, two doors: what each user sees of the others, in which order, with which nicks."""

from __future__ import annotations

import re
import socket
import struct
from collections.abc import Callable
from typing import Any

from stamps import unstamped
from support import ServerProcess, WebUser


def test_web_message_reaches_tcp_user_with_nick(server: ServerProcess) -> None:
    web = server.web("alice")
    tcp = server.tcp(nick="bob")
    web.say("hello bob")
    assert tcp.expect(lambda line: "hello" in line) == "[alice] hello bob"


def test_tcp_message_reaches_web_user_with_nick(server: ServerProcess) -> None:
    web = server.web("alice")
    tcp = server.tcp(nick="bob")
    tcp.send("hi alice")
    event = web.expect(type="message", nick="bob")
    assert unstamped(event) == {"type": "message", "nick": "bob", "text": "hi alice"}


def test_tcp_message_reaches_other_tcp_user_but_is_not_echoed_to_sender(server: ServerProcess) -> None:
    bob = server.tcp(nick="bob")
    carol = server.tcp(nick="carol")
    bob.expect(lambda line: line.endswith("is now known as carol"))
    bob.send("no echo please")
    assert carol.expect(lambda line: "echo" in line) == "[bob] no echo please"
    carol.send("/me syncs")  # delivered after anything the room sent bob before it
    assert bob.read_line() == "* [carol] syncs"


def test_web_sender_gets_own_message_marked_self_in_server_order(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(CHAT_RATE="0")
    alice = server.web("alice")
    carol = server.web("carol")
    bob = server.tcp(nick="bob")
    for n in range(3):
        alice.say(f"alice {n}")
        bob.send(f"bob {n}")
    seen_by_alice = [alice.expect(type="message") for _ in range(6)]
    seen_by_carol = [carol.expect(type="message") for _ in range(6)]

    assert [(e["id"], e["nick"], e["text"]) for e in seen_by_alice] == [
        (e["id"], e["nick"], e["text"]) for e in seen_by_carol
    ]
    assert [e.get("self", False) for e in seen_by_alice] == [e["nick"] == "alice" for e in seen_by_alice]
    assert not any("self" in e for e in seen_by_carol)
    assert [e["text"] for e in seen_by_alice if e["nick"] == "alice"] == ["alice 0", "alice 1", "alice 2"]
    assert [e["text"] for e in seen_by_alice if e["nick"] == "bob"] == ["bob 0", "bob 1", "bob 2"]


def test_ids_increase_across_gateways_and_everyone_sees_one_order(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(CHAT_RATE="0")
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    carol = server.web("carol")
    dave = server.tcp(nick="dave")
    for n in range(4):
        alice.say(f"a{n}")
        bob.send(f"b{n}")
        dave.send(f"/me d{n}")

    def public(user: WebUser) -> list[dict[str, Any]]:
        return [user.expect(lambda e: e["type"] in ("message", "action")) for _ in range(12)]

    def as_line(event: dict[str, Any]) -> str:
        line = f"[{event['nick']}] {event['text']}"
        return line if event["type"] == "message" else f"* {line}"

    at_alice, at_carol = public(alice), public(carol)
    ids = [e["id"] for e in at_carol]
    assert ids == sorted(set(ids)), "ids must strictly increase"
    assert [e["id"] for e in at_alice] == ids
    order = [as_line(e) for e in at_carol]
    assert [as_line(e) for e in at_alice] == order
    # bob sees everything except his own messages, in the same order
    at_bob = [bob.expect(lambda line: line.startswith(("[alice]", "* [dave] d"))) for _ in range(8)]
    assert at_bob == [line for line in order if not line.startswith("[bob]")]


def test_join_notices_on_both_sides(server: ServerProcess) -> None:
    web = server.web("alice")
    tcp = server.tcp()
    joined = web.expect(type="join", nick=tcp.nick)
    assert unstamped(joined) == {"type": "join", "nick": tcp.nick, "gateway": "telnet"}
    carol = server.web("carol")
    assert carol.welcome["users"][-1] == {"nick": "carol", "gateway": "web"}
    assert tcp.expect(lambda line: "carol" in line) == "* carol joined (web)"
    assert web.expect(type="join", nick="carol")["gateway"] == "web"


def test_welcome_tells_the_newcomer_who_is_here(server: ServerProcess) -> None:
    alice = server.web("alice")
    assert alice.welcome["users"] == [{"nick": "alice", "gateway": "web"}]
    assert alice.welcome["text"] == "You're connected to the chat server — /help for commands"
    bob = server.tcp(nick="bob")
    guest = bob.lines[1].removeprefix("* You are ").removesuffix(" — change it with /nick NAME")
    assert re.fullmatch(r"guest\d{4,8}", guest)
    assert bob.lines[:4] == [
        "You're connected to the chat server — /help for commands",
        f"* You are {guest} — change it with /nick NAME",
        "* Here now: alice",
        f"* {guest} is now known as bob",
    ]
    carol = server.web("carol")
    assert carol.welcome["nick"] == "carol"
    assert carol.welcome["users"] == [
        {"nick": "alice", "gateway": "web"},
        {"nick": "bob", "gateway": "telnet"},
        {"nick": "carol", "gateway": "web"},
    ]


def test_guest_nicks_are_unique_and_usable_at_once(server: ServerProcess) -> None:
    first, second = server.tcp(), server.tcp()
    assert first.nick != second.nick
    assert first.nick.startswith("guest") and second.nick.startswith("guest")
    first.send("hi")
    assert second.expect(lambda line: "hi" in line) == f"[{first.nick}] hi"


def test_nick_change_seen_on_both_sides(server: ServerProcess) -> None:
    web = server.web("alice")
    watcher = server.tcp(nick="carol")
    bob = server.tcp()
    guest = bob.nick
    bob.send("/nick bob")
    assert unstamped(web.expect(type="nick", nick="bob")) == {
        "type": "nick",
        "nick": "bob",
        "old": guest,
        "gateway": "telnet",
    }
    assert watcher.expect(lambda line: "known as" in line) == f"* {guest} is now known as bob"
    assert bob.expect(lambda line: "known as" in line) == f"* {guest} is now known as bob"
    web.say("/nick alicia")
    assert unstamped(web.expect(type="nick")) == {
        "type": "nick",
        "nick": "alicia",
        "old": "alice",
        "gateway": "web",
        "self": True,
    }
    assert watcher.expect(lambda line: "alicia" in line) == "* alice is now known as alicia"


def test_tcp_user_closing_socket_leaves(server: ServerProcess) -> None:
    web = server.web("alice")
    watcher = server.tcp(nick="carol")
    bob = server.tcp(nick="bob")
    bob.close()
    assert unstamped(web.expect(type="leave", nick="bob")) == {"type": "leave", "nick": "bob", "gateway": "telnet"}
    assert watcher.expect(lambda line: "left" in line) == "* bob left"


def test_tcp_user_reset_connection_leaves(server: ServerProcess) -> None:
    web = server.web("alice")
    watcher = server.tcp(nick="carol")
    bob = server.tcp(nick="bob")
    bob.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    bob.close()  # linger 0: the kernel sends RST instead of FIN
    leave = web.expect(type="leave", nick="bob")
    assert unstamped(leave) == {"type": "leave", "nick": "bob", "text": "connection lost", "gateway": "telnet"}
    assert watcher.expect(lambda line: "left" in line) == "* bob left (connection lost)"
    assert server.health()["clients"] == {"web": 1, "telnet": 1, "total": 2}


def test_web_user_closing_leaves(server: ServerProcess) -> None:
    watcher = server.tcp(nick="carol")
    other = server.web("dave")
    alice = server.web("alice")
    alice.close()
    assert watcher.expect(lambda line: "left" in line) == "* alice left"
    assert unstamped(other.expect(type="leave")) == {"type": "leave", "nick": "alice", "gateway": "web"}


def test_web_user_dropping_the_socket_leaves(server: ServerProcess) -> None:
    watcher = server.tcp(nick="carol")
    alice = server.web("alice")
    alice.ws.socket.shutdown(socket.SHUT_RDWR)  # no close frame: the network just went away
    alice.ws.socket.close()
    assert watcher.expect(lambda line: "left" in line) == "* alice left"
    assert server.health()["clients"] == {"web": 0, "telnet": 1, "total": 1}


def test_text_mode_websocket_gets_the_same_lines_as_tcp(server: ServerProcess) -> None:
    plain = server.web(query="mode=text")
    tcp = server.tcp()
    assert plain.expect(lambda line: "joined" in line) == f"* {tcp.nick} joined (telnet)"
    alice = server.web("alice")
    alice.say("hello there")
    alice.say("/me waves")
    alice.say("/nick alicia")
    alice.close()
    script = [
        "* alice joined (web)",
        "[alice] hello there",
        "* [alice] waves",
        "* alice is now known as alicia",
        "* alicia left",
    ]
    tcp.expect(lambda line: line.startswith("* Here now: "))
    assert [tcp.read_line() for _ in script] == script
    assert [plain.next() for _ in script] == script
    # a text-mode user's own line is not echoed, like on TCP, and plain lines reach others
    plain.send_raw("from websocat")
    assert tcp.expect(lambda line: "websocat" in line) == f"[{plain.nick}] from websocat"
    tcp.send("/me syncs")
    assert plain.next() == f"* [{tcp.nick}] syncs"

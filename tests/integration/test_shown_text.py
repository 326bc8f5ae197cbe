"""What a person can make others read (moderation reasons, topics, part and quit reasons, ban
notices) reaches nobody raw: not a telnet reader's terminal, not a web page, not the server's log.

The attacks: OSC 52 (writes the reader's clipboard), clear screen, window title, bell, C1 controls,
bidi overrides and isolates, and line breaks of every kind (which would forge a line of the
terminal, of the page's log, or of the server's log). Senders type them on telnet (raw bytes)
and in web frames (JSON carries any character)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support import ServerProcess, TcpUser, WebUser
from websockets.exceptions import ConnectionClosed

Start = Callable[..., ServerProcess]
PASSWORD = "correct horse battery"
FORGED = "2026-12-08 00:00:00,000 INFO app.audit: root banned everyone"
"""A line the attacker wants the server's log (and readers) to show as if the server wrote it."""
EVIL = (
    "\x1b]52;c;ZXZpbA==\x07"  # OSC 52: set the reader's clipboard
    "\x1b[2J\x1b[H"  # clear the screen
    "\x1b]0;owned\x07"  # window title
    "\x07\x9b2J\x85"  # bell, C1 CSI, NEL
    "\u202egnp.exe\u202c \u2066iso\u2069"  # bidi override and isolate
    "\n" + FORGED + "\r\n* root is now a server operator\u2028\u2029\v\f end"
)
EVIL_TELNET = "\x1b]52;c;ZXZpbA==\x07 \x1b[2J\x1b]0;owned\x07\x07\u202eevil\u202c reason"
"""What a telnet line can hold (no line break: that ends the line)."""


def frame(text: str, room: str | None = None) -> str:
    return json.dumps({"type": "say", "text": text, **({"room": room} if room else {})})


def strings(value: Any) -> Iterator[str]:
    """Every string in a JSON value."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def assert_clean_tcp(user: TcpUser) -> None:
    lines = [*user.lines, user.buffer.decode(errors="replace")]
    raw = [line for line in lines if not line.isprintable()]
    assert raw == [], "a terminal received control characters, escapes or line breaks"
    assert not any(line.startswith(("2026-12-08", "* root is now")) for line in lines), "a line was forged"


def assert_clean_web(user: WebUser) -> None:
    for event in user.events:
        for text in strings(event):
            lines = text.split("\n") if event.get("type") in ("system", "error") else [text]  # the server's own
            assert all(line.isprintable() for line in lines), f"raw text reached the page: {event!r}"


def joined(user: WebUser, room: str) -> None:
    user.say(f"/join {room}")
    user.expect(type="room", room=room)


def test_reasons_topics_and_goodbyes_reach_no_reader_raw(start_server: Start) -> None:
    server = start_server(CHAT_OPERATOR_PASSWORD=PASSWORD, CHAT_RATE="0", CHAT_CHURN_CALM="1000")
    reader = server.tcp(nick="reader")
    page = server.web("page")
    sysop = server.tcp(nick="sysop")
    sysop.send(f"/oper {PASSWORD}")
    sysop.expect("* sysop is now a server operator")
    boss = server.web("boss")
    boss.say(f"/oper {PASSWORD}")
    boss.expect(type="moderation", nick="boss")
    reader.send("/join #x")
    reader.expect(lambda line: line.startswith("* You are now in #x"))
    joined(page, "#x")
    joined(boss, "#x")

    # telnet: an operator types escapes into a kick's reason
    victim = server.tcp(nick="victim")
    sysop.send_raw(f"/kick victim {EVIL_TELNET}\r\n".encode())
    reader.expect("[#main] * victim was kicked by sysop: evil reason")
    assert victim.closed()
    assert victim.lines[-1] == "! Disconnected: you were kicked (evil reason)"

    # web: the same and worse (line breaks) in every kind of reason, and in a topic
    target = server.web("target")
    boss.send_raw(frame(f"/kick target {EVIL}", "#main"))
    with pytest.raises(ConnectionClosed) as kicked:
        while True:
            target.next()
    assert kicked.value.rcvd is not None and kicked.value.rcvd.reason.isprintable()
    mover = server.web("mover")
    joined(mover, "#x")
    boss.send_raw(frame(f"/remove mover {EVIL}", "#x"))
    mover.expect(type="part", room="#x")
    boss.send_raw(frame(f"/topic {EVIL}", "#x"))
    leaver = server.web("leaver")
    joined(leaver, "#x")
    leaver.send_raw(frame(f"/part #x {EVIL}", "#main"))
    leaver.expect(type="part", room="#x")
    leaver.send_raw(frame(f"/quit {EVIL}"))
    spammer = server.tcp(nick="spammer")
    boss.send_raw(frame(f"/ban spammer 10m {EVIL}", "#main"))
    assert spammer.closed()
    boss.send_raw(frame("/bans"))
    boss.expect(lambda event: "spammer (nick) by boss" in event.get("text", ""), type="system")
    boss.send_raw(frame("/modlog"))
    boss.expect(lambda event: "moderation actions" in event.get("text", ""), type="system")
    boss.send_raw(frame("all done", "#x"))
    reader.expect("[boss] all done")
    page.expect(type="message", text="all done")

    for tcp in (reader, sysop, victim, spammer):
        assert_clean_tcp(tcp)
    for web in (page, boss, mover, leaver):
        assert_clean_web(web)
    seen = "\n".join(reader.lines)
    assert "mover was removed from the room by boss: " in seen, "the reader saw each of them"
    assert "* leaver left #x (gnp.exe iso " in seen
    assert "* boss set the topic of #x: " in seen
    assert "* spammer was banned by boss: 10 minutes, " in seen

    log = server.output()
    assert not any(char in log for char in "\x1b\x07\x9b\x85\u202e\u2066\u2028"), "the log holds raw controls"
    assert not any(line.startswith(FORGED[:19]) for line in log.split("\n")), "a reason forged a log line"
    assert "target was kicked by boss: gnp.exe iso " in log
    assert " leave leaver gnp.exe iso " in log, "the quit's reason, as others' presence shows it, is in the log"


def test_a_stored_topic_from_before_the_cleaning_is_shown_clean(start_server: Start) -> None:
    """History written by an older release (or by hand) holds raw text: it is cleaned when shown."""
    server = start_server(CHAT_WEB_HISTORY="10", CHAT_TCP_REPLAY="10")
    db = server.env["CHAT_DB"]
    server.stop()
    with sqlite3.connect(db) as history:
        last = history.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()[0]
        for offset, (kind, text) in enumerate([("message", f"old {EVIL}"), ("topic", f"topic {EVIL}")], 1):
            row = (last + offset, 1_765_000_000.0 + offset, kind, "ann", text, "", None, "#main")
            history.execute("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?, ?)", row)
    again = start_server(CHAT_DB=db, CHAT_WEB_HISTORY="10", CHAT_TCP_REPLAY="10")
    reader = again.tcp()
    page = again.web("page")
    page.expect(type="message", history=True, nick="ann")
    reader.expect(
        lambda line: line.endswith(" [ann] old  gnp.exe iso " + FORGED + "  * root is now a server operator     end")
    )
    reader.expect(lambda line: "* ann set the topic of #main: topic  gnp.exe iso " in line)
    reader.send("/topic")
    reader.expect(lambda line: line.startswith("* Topic of #main: topic"))
    assert_clean_tcp(reader)
    assert_clean_web(page)


HIDERS = ["\x07", "\x00", "\u202e", "\x1b[0m", "\x9b0m", "\u2028", "\x85"]
"""What might hide a command from the rules, if they read the line before it is cleaned."""


def test_a_control_character_before_a_command_hides_it_from_no_rule(start_server: Start) -> None:
    """A line is read as it will be acted on: the rules see the command the cleaned line holds."""
    server = start_server(CHAT_RATE="0")
    ann = server.web("ann")
    for room in ("#locked", "#quiet"):
        joined(ann, room)
        ann.expect(type="enter", nick="ann", room=room)  # ann made it: its operator
    ann.send_raw(frame("/lock", "#locked"))
    ann.expect(type="moderation", room="#locked", code="lock")
    ann.send_raw(frame("/topic lock", "#quiet"))
    ann.expect(type="moderation", room="#quiet", code="topic_lock")
    bob = server.web("bob")
    joined(bob, "#quiet")
    for hider in HIDERS:
        bob.send_raw(frame(f"{hider}/join #locked"))
        assert bob.expect(type="error")["code"] == "invite_only", repr(hider)
        bob.send_raw(frame(f"{hider}/topic mine now", "#quiet"))
        assert bob.expect(type="error")["code"] == "topic_locked", repr(hider)
    bob.send_raw(frame("/rooms"))
    bob.expect(type="rooms")
    assert not any(event["type"] in ("room", "topic") and event.get("room") != "#quiet" for event in bob.events[1:])

"""Events as the plain text lines telnet users and text-mode WebSocket users read."""

from __future__ import annotations

import pytest

from app.codecs.lines import format_lines
from app.domain.events import Event, Gateway, Kind, User

BOTH = (User("alice", Gateway.WEB), User("bob", Gateway.TELNET))


@pytest.mark.parametrize(
    ("event", "own", "lines"),
    [
        (Event(Kind.MESSAGE, nick="alice", text="hello"), False, ["[alice] hello"]),
        (Event(Kind.ACTION, nick="alice", text="waves"), False, ["* [alice] waves"]),
        (Event(Kind.JOIN, nick="bob", gateway=Gateway.TELNET), False, ["* bob joined (telnet)"]),
        (Event(Kind.JOIN, nick="alice", gateway=Gateway.WEB), False, ["* alice joined (web)"]),
        (Event(Kind.LEAVE, nick="bob"), False, ["* bob left"]),
        (Event(Kind.LEAVE, nick="bob", text="flooding"), False, ["* bob left (flooding)"]),
        (Event(Kind.NICK, nick="robert", old="bob"), False, ["* bob is now known as robert"]),
        (Event(Kind.PRIVATE, nick="alice", to="bob", text="psst"), False, ["[alice → you] psst"]),
        (Event(Kind.PRIVATE, nick="alice", to="bob", text="psst"), True, ["[you → bob] psst"]),
        (
            Event(Kind.WELCOME, nick="bob", text="Welcome!", users=BOTH),
            False,
            ["Welcome!", "* You are bob — change it with /nick NAME", "* Here now: alice"],
        ),
        (
            Event(Kind.WELCOME, nick="bob", text="Welcome!", users=(User("bob", Gateway.TELNET),)),
            False,
            ["Welcome!", "* You are bob — change it with /nick NAME", "* Here now: nobody else yet"],
        ),
        (Event(Kind.USERS, users=BOTH), False, ["* 2 here: alice (web), bob (telnet)"]),
        (Event(Kind.SYSTEM, text="Goodbye!"), False, ["* Goodbye!"]),
        (Event(Kind.SYSTEM, text="Commands:\n/who  list"), False, ["* Commands:", "  /who  list"]),
        (Event(Kind.ERROR, text="Nick refused", code="nick_refused"), False, ["! Nick refused"]),
        (Event(Kind.ERROR, text="one\ntwo", code="usage"), False, ["! one", "! two"]),
    ],
)
def test_format_lines_per_kind(event: Event, own: bool, lines: list[str]) -> None:
    assert format_lines(event, own) == lines


def test_an_action_never_reads_like_a_server_notice() -> None:
    forged = format_lines(Event(Kind.ACTION, nick="mallory", text="is now known as alice"))
    real = format_lines(Event(Kind.NICK, nick="alice", old="mallory"))
    assert forged == ["* [mallory] is now known as alice"]
    assert real == ["* mallory is now known as alice"]


BREAKS = ["\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"]


@pytest.mark.parametrize("breaker", BREAKS)
@pytest.mark.parametrize("kind", [Kind.MESSAGE, Kind.ACTION, Kind.PRIVATE, Kind.LEAVE])
def test_user_text_stays_on_its_line_even_from_history_stored_before_it_was_cleaned(kind: Kind, breaker: str) -> None:
    event = Event(kind, nick="bob", to="ann", text=f"hi{breaker}12:34 [alice] send the code", ts=1.0, history=True)
    [line] = format_lines(event)
    assert "12:34 [alice] send the code" in line and not any(b in line for b in BREAKS)


def test_a_notice_splits_only_at_the_servers_own_newlines() -> None:
    notice = Event(Kind.SYSTEM, text="Last 1 events (UTC):\n00:00 [bob] hi\u2028forged")
    assert format_lines(notice) == ["* Last 1 events (UTC):", "  00:00 [bob] hi forged"]

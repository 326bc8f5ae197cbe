"""The room: who is here and what each line of input turns into."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from outcomes import published, told

from app.domain.events import Disconnect, Event, Gateway, Kind, Outcome, Tell, User
from app.domain.goodbye import Goodbye
from app.domain.nicks import MAX_NICK_LENGTH
from app.domain.room import HELP, Room

ALICE, BOB, CAROL = 1, 2, 3


def make_room(max_message: int = 100) -> Room:
    room = Room(max_message=max_message, rng=random.Random(7))
    room.join(ALICE, Gateway.WEB, "alice")
    room.join(BOB, Gateway.TELNET, "bob")
    return room


def only_error(outcomes: list[Outcome], member: int, code: str) -> Event:
    """The single outcome is an error told to ``member`` only; nothing reaches anyone else."""
    assert len(outcomes) == 1, outcomes
    [event] = told(outcomes, member)
    assert (event.kind, event.code) == (Kind.ERROR, code)
    return event


# -- join and leave ---------------------------------------------------------------------------


def test_join_with_free_nick_welcomes_and_announces() -> None:
    room = Room(rng=random.Random(1))
    room.join(ALICE, Gateway.WEB, "alice")
    outcomes = room.join(BOB, Gateway.TELNET, "bob")
    [welcome] = told(outcomes, BOB)
    assert welcome.kind is Kind.WELCOME
    assert welcome.nick == "bob"
    assert welcome.gateway is Gateway.TELNET
    assert welcome.users == (User("alice", Gateway.WEB), User("bob", Gateway.TELNET))
    [join] = published(outcomes)
    assert (join.kind, join.nick, join.gateway, join.origin) == (Kind.JOIN, "bob", Gateway.TELNET, BOB)
    assert len(room) == 2 and BOB in room


@pytest.mark.parametrize(
    ("requested", "reason"),
    [
        ("ALICE", "'ALICE' is already taken"),
        ("bad nick", "letters, digits"),
        ("bob\u202eecila", "reorder text (U+202E RIGHT-TO-LEFT OVERRIDE)"),
        ("\u2066eve\u2069", "reorder text (U+2066 LEFT-TO-RIGHT ISOLATE)"),
        ("admin", "'admin' is reserved"),
        ("x" * (MAX_NICK_LENGTH + 1), f"at most {MAX_NICK_LENGTH} characters"),
    ],
)
def test_join_with_unusable_nick_gets_guest_nick_and_reason(requested: str, reason: str) -> None:
    room = Room(rng=random.Random(1))
    room.join(ALICE, Gateway.WEB, "alice")
    outcomes = room.join(BOB, Gateway.WEB, requested)
    welcome, error = told(outcomes, BOB)
    assert welcome.kind is Kind.WELCOME
    assert welcome.nick.startswith("guest") and welcome.nick[5:].isdigit()
    assert (error.kind, error.code) == (Kind.ERROR, "nick_refused")
    assert reason in error.text
    [join] = published(outcomes)
    assert join.nick == welcome.nick
    assert room.nick_of(ALICE) == "alice"


def test_join_without_nick_gets_guest_nick_and_no_error() -> None:
    outcomes = Room(rng=random.Random(1)).join(ALICE, Gateway.TELNET)
    [welcome] = told(outcomes, ALICE)
    assert welcome.nick.startswith("guest")


def guest_nick(room: Room, member: int) -> str:
    return told(room.join(member, Gateway.WEB), member)[0].nick


def test_guest_nick_is_redrawn_when_taken() -> None:
    # Same seed, same first draw: plant that guest nick in a second room, whose first draw
    # then collides with it.
    planted = guest_nick(Room(rng=random.Random(3)), 1)
    room = Room(rng=random.Random(3))
    room.join(99, Gateway.WEB, planted.upper())
    assert guest_nick(room, 1) != planted


def test_guest_nicks_get_longer_when_short_ones_keep_colliding() -> None:
    class Lowest(random.Random):
        def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:  # type: ignore[override]
            return start

    room = Room(rng=Lowest())
    assert [guest_nick(room, i) for i in range(1, 5)] == ["guest1000", "guest10000", "guest100000", "guest1000000"]


def test_many_guests_get_distinct_nicks() -> None:
    room = Room(rng=random.Random(5))  # this seed repeats a four-digit number 3 times in 300 draws
    nicks = {guest_nick(room, i) for i in range(1, 301)}
    assert len(nicks) == 300


def test_leave_announces_once_and_frees_the_nick() -> None:
    room = make_room()
    outcomes = room.leave(BOB, "bye\x1b[31m now")
    [leave] = published(outcomes)
    assert (leave.kind, leave.nick, leave.text, leave.gateway) == (Kind.LEAVE, "bob", "bye now", Gateway.TELNET)
    assert room.leave(BOB) == []
    assert BOB not in room
    assert told(room.join(CAROL, Gateway.WEB, "Bob"), CAROL)[0].nick == "Bob"


def test_input_from_someone_not_in_the_room_is_ignored() -> None:
    assert make_room().handle(CAROL, "hello") == []


# -- saying things ----------------------------------------------------------------------------


def test_plain_line_is_published_as_message() -> None:
    [event] = published(make_room().handle(ALICE, "  hello there  "))
    assert (event.kind, event.nick, event.text, event.origin) == (Kind.MESSAGE, "alice", "hello there", ALICE)


@pytest.mark.parametrize(("line", "text"), [("//nick is a command", "/nick is a command"), ("//", "/")])
def test_double_slash_says_a_line_starting_with_slash(line: str, text: str) -> None:
    [event] = published(make_room().handle(ALICE, line))
    assert (event.kind, event.text) == (Kind.MESSAGE, text)


@pytest.mark.parametrize("line", ["", "   ", "\t\r\n", "\x1b[2J", "\x00\x07"])
def test_blank_lines_are_ignored(line: str) -> None:
    assert make_room().handle(ALICE, line) == []


def test_message_text_is_cleaned() -> None:
    [event] = published(make_room().handle(ALICE, "hi\x07 \x1b]0;pwned\x07there"))
    assert event.text == "hi there"


def test_text_from_a_json_escape_with_lone_surrogate_can_be_sent_to_everyone() -> None:
    room = make_room()
    [event] = published(room.handle(ALICE, "hi \ud800there"))
    assert event.text == "hi there"
    [error] = told(room.handle(ALICE, "/msg \udc00x hello"), ALICE)
    error.text.encode("utf-8")


def test_over_long_message_is_refused_with_the_limit() -> None:
    room = make_room(max_message=10)
    [event] = published(room.handle(ALICE, "x" * 10))
    assert event.text == "x" * 10
    error = only_error(room.handle(ALICE, "x" * 11), ALICE, "too_long")
    assert "11 characters" in error.text and "limit is 10" in error.text
    only_error(room.handle(ALICE, "/me " + "x" * 11), ALICE, "too_long")
    only_error(room.handle(ALICE, "/msg bob " + "x" * 11), ALICE, "too_long")


def test_unknown_command_is_told_only_to_the_sender() -> None:
    error = only_error(make_room().handle(ALICE, "/frobnicate now"), ALICE, "unknown_command")
    assert "/frobnicate" in error.text and "/help" in error.text


def test_commands_are_case_insensitive() -> None:
    [event] = published(make_room().handle(ALICE, "/ME waves"))
    assert (event.kind, event.text) == (Kind.ACTION, "waves")


# -- /me ----------------------------------------------------------------------------------------


def test_me_publishes_action() -> None:
    [event] = published(make_room().handle(BOB, "/me waves  "))
    assert (event.kind, event.nick, event.text, event.origin) == (Kind.ACTION, "bob", "waves", BOB)


def test_me_without_text_is_usage_error() -> None:
    error = only_error(make_room().handle(BOB, "/me   "), BOB, "usage")
    assert "/me ACTION" in error.text


# -- /nick --------------------------------------------------------------------------------------


def test_nick_change_is_published_with_old_and_new() -> None:
    room = make_room()
    [event] = published(room.handle(BOB, "/nick robert"))
    assert (event.kind, event.old, event.nick, event.gateway, event.origin) == (
        Kind.NICK,
        "bob",
        "robert",
        Gateway.TELNET,
        BOB,
    )
    assert room.nick_of(BOB) == "robert"
    # the old nick is free again, the new one is taken
    assert published(room.handle(ALICE, "/nick bob"))[0].nick == "bob"
    only_error(room.handle(ALICE, "/nick ROBERT"), ALICE, "nick_refused")


def test_nick_may_change_case_of_own_nick() -> None:
    room = make_room()
    [event] = published(room.handle(ALICE, "/nick Alice"))
    assert (event.old, event.nick) == ("alice", "Alice")


@pytest.mark.parametrize("line", ["/nick alice", "/nick ａｌｉｃｅ", "/nick  alice  "])
def test_same_nick_is_a_notice_not_an_event(line: str) -> None:
    [event] = told(make_room().handle(ALICE, line), ALICE)
    assert (event.kind, event.text) == (Kind.SYSTEM, "You are already alice")


def test_fullwidth_nick_is_normalized_and_collides_with_ascii() -> None:
    room = make_room()
    error = only_error(room.handle(ALICE, "/nick ｂｏｂ"), ALICE, "nick_refused")
    assert "'bob' is already taken" in error.text
    [event] = published(room.handle(ALICE, "/nick ａｌｉｃｅ２"))
    assert event.nick == "alice2"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("/nick BOB", "'BOB' is already taken"),
        ("/nick Root", "'Root' is reserved"),
        ("/nick ｓｅｒｖｅｒ", "'server' is reserved"),
        ("/nick " + "a" * (MAX_NICK_LENGTH + 1), f"at most {MAX_NICK_LENGTH} characters"),
        ("/nick al ice", "letters, digits"),
        ("/nick al.ice", "letters, digits"),
        ("/nick <b>", "letters, digits"),
    ],
)
def test_nick_refusals_give_the_reason(line: str, reason: str) -> None:
    room = make_room()
    error = only_error(room.handle(ALICE, line), ALICE, "nick_refused")
    assert error.text.startswith("Nick refused: ")
    assert reason in error.text
    assert room.nick_of(ALICE) == "alice"


@pytest.mark.parametrize("override", ["\u202a", "\u202b", "\u202d", "\u202e", "\u2066", "\u2067", "\u2068", "\u2069"])
def test_nick_command_never_yields_a_nick_with_bidi_controls(override: str) -> None:
    # Every input line is cleaned before it is read, so the override is gone before the nick
    # rules see it: "bob<RLO>ecila" (which would display as "bobalice") becomes "bobecila".
    [event] = published(make_room().handle(ALICE, f"/nick bob{override}ecila"))
    assert event.nick == "bobecila"


def test_nick_at_max_length_is_accepted() -> None:
    nick = "n" * MAX_NICK_LENGTH
    assert published(make_room().handle(ALICE, f"/nick {nick}"))[0].nick == nick


def test_nick_without_name_is_usage_error_telling_current_nick() -> None:
    error = only_error(make_room().handle(ALICE, "/nick"), ALICE, "usage")
    assert "you are alice" in error.text


# -- /who, /help --------------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["/who", "/names", "/WHO extra words"])
def test_who_lists_everyone_to_the_asker_only(command: str) -> None:
    outcomes = make_room().handle(BOB, command)
    assert len(outcomes) == 1
    [event] = told(outcomes, BOB)
    assert event.kind is Kind.USERS
    assert event.users == (User("alice", Gateway.WEB), User("bob", Gateway.TELNET))


def test_help_lists_every_command() -> None:
    outcomes = make_room().handle(ALICE, "/help")
    assert len(outcomes) == 1
    [event] = told(outcomes, ALICE)
    assert event.kind is Kind.SYSTEM and event.text.startswith(HELP)
    limits = event.text.splitlines()[-1]
    assert limits == (
        "Limits: 100 characters a message; 5 lines at once, then 2 a second;"
        " a paste of up to 20 lines (4096 characters) goes through whole."
    )
    for command in ("/nick", "/who", "/me", "/msg", "/help", "/quit", "//"):
        assert command in event.text


# -- /msg ---------------------------------------------------------------------------------------


def test_msg_reaches_only_target_and_sender() -> None:
    room = make_room()
    room.join(CAROL, Gateway.WEB, "carol")
    outcomes = room.handle(ALICE, "/msg BOB  psst,   over here ")
    assert published(outcomes) == []
    assert told(outcomes, CAROL) == []
    [to_bob] = told(outcomes, BOB)
    [to_alice] = told(outcomes, ALICE)
    assert to_bob == to_alice
    assert (to_bob.kind, to_bob.nick, to_bob.to, to_bob.text, to_bob.origin) == (
        Kind.PRIVATE,
        "alice",
        "bob",
        "psst,   over here",
        ALICE,
    )


def test_msg_to_yourself_is_told_once() -> None:
    outcomes = make_room().handle(ALICE, "/msg alice note to self")
    assert len(outcomes) == 1
    assert told(outcomes, ALICE)[0].kind is Kind.PRIVATE


def test_msg_to_unknown_nick() -> None:
    error = only_error(make_room().handle(ALICE, "/msg zed hello"), ALICE, "no_such_nick")
    assert "zed" in error.text


@pytest.mark.parametrize("line", ["/msg", "/msg bob", "/msg bob    "])
def test_msg_usage_errors(line: str) -> None:
    error = only_error(make_room().handle(ALICE, line), ALICE, "usage")
    assert "/msg NICK TEXT" in error.text


# -- /quit --------------------------------------------------------------------------------------


def test_quit_says_goodbye_announces_leave_and_disconnects() -> None:
    room = make_room()
    outcomes = room.handle(BOB, "/quit off to bed")
    assert isinstance(outcomes[0], Tell) and outcomes[0].member == BOB
    assert outcomes[0].event.kind is Kind.SYSTEM
    [leave] = published(outcomes)
    assert (leave.kind, leave.nick, leave.text) == (Kind.LEAVE, "bob", "off to bed")
    assert outcomes[-1] == Disconnect(BOB, Goodbye.QUIT, "off to bed")
    assert BOB not in room
    assert room.handle(BOB, "/quit") == []


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("/nick aIice", "'aIice' is too like 'alice'"),  # capital I for l
        ("/nick a1ice", "'a1ice' is too like 'alice'"),  # digit one for l
        ("/nick ALICE", "'ALICE' is already taken"),
        ("/nick ｂоb", "look-alike scripts (Cyrillic, Latin)"),  # fullwidth b, Cyrillic o
        ("/nick ЬоЬ", "'ЬоЬ' is too like 'bob'"),  # all Cyrillic: one script, same skeleton
    ],
)
def test_look_alikes_of_a_nick_in_use_are_refused(line: str, reason: str) -> None:
    room = make_room()
    room.join(CAROL, Gateway.TELNET, "carol")
    error = only_error(room.handle(CAROL, line), CAROL, "nick_refused")
    assert reason in error.text
    assert room.nick_of(CAROL) == "carol"


def test_a_look_alike_is_free_again_once_its_holder_leaves() -> None:
    room = make_room()
    room.join(CAROL, Gateway.TELNET, "carol")
    room.leave(ALICE)
    [event] = published(room.handle(BOB, "/nick aIice"))
    assert event.nick == "aIice"
    assert "too like 'aIice'" in only_error(room.handle(CAROL, "/nick alice"), CAROL, "nick_refused").text


def test_help_and_the_user_guides_command_tables_name_the_same_commands() -> None:
    guide = (Path(__file__).parents[2] / "docs" / "user-guide.md").read_text()
    tables = guide.split("### Commands (every door)", 1)[1].split("\n### ", 1)[0]
    in_tables = {
        name
        for row in tables.splitlines()
        if row.startswith("| `/")
        for name in re.findall(r"`/(\w+)", row.split(" | ")[0])
    }
    in_help = set(re.findall(r"(?<![/\w])/(\w+)", HELP))
    assert in_help == in_tables

"""Events as lines for SSH terminals: the telnet wording, colours only where the terminal has them."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.codecs.lines import format_lines
from app.codecs.terminal import TerminalCodec, nick_colour, supports_colour
from app.domain.events import Event, Gateway, Kind
from app.domain.text import clean_text

COLOUR, MONO = TerminalCodec(colour=True), TerminalCodec(colour=False)
SGR = re.compile(r"\x1b\[[0-9;]*m")


def shown(data: bytes | None) -> str:
    """What the reader sees, colours aside."""
    assert data is not None
    return SGR.sub("", data.decode())


@pytest.mark.parametrize(
    "event",
    [
        Event(Kind.MESSAGE, nick="alice", text="hello"),
        Event(Kind.ACTION, nick="alice", text="waves"),
        Event(Kind.JOIN, nick="bob", gateway=Gateway.SSH),
        Event(Kind.LEAVE, nick="bob", text="quit"),
        Event(Kind.NICK, nick="robert", old="bob"),
        Event(Kind.PRIVATE, nick="alice", to="bob", text="psst"),
        Event(Kind.SYSTEM, text="Commands:\n/who  list"),
        Event(Kind.ERROR, text="Nick refused", code="nick_refused"),
        Event(Kind.MESSAGE, nick="alice", text="earlier", ts=1_800_000_000.0, history=True),
    ],
)
def test_the_words_are_the_telnet_doors_with_lf_endings(event: Event) -> None:
    expected = "".join(line + "\n" for line in format_lines(event))
    assert MONO.encode(event, False) == expected.encode()
    assert shown(COLOUR.encode(event, False)) == expected


def test_plain_terminals_get_no_escape_sequence() -> None:
    assert b"\x1b" not in (MONO.encode(Event(Kind.ERROR, text="no", code="x"), False) or b"")


def test_nicks_and_notices_are_coloured() -> None:
    message = COLOUR.encode(Event(Kind.MESSAGE, nick="alice", text="hello"), False)
    assert message == f"[\x1b[{nick_colour('alice')}malice\x1b[0m] hello\n".encode()
    assert COLOUR.encode(Event(Kind.ERROR, text="no", code="x"), False) == b"\x1b[1;31m! no\x1b[0m\n"
    assert COLOUR.encode(Event(Kind.LEAVE, nick="bob"), False) == b"\x1b[90m* bob left\x1b[0m\n"


def test_a_nick_keeps_its_colour_whatever_its_case() -> None:
    assert nick_colour("Alice") == nick_colour("alice")
    assert len({nick_colour(nick) for nick in ("alice", "bob", "carol", "dave", "erin", "frank", "grace")}) > 3


def test_the_readers_own_message_is_shown_back_bold_but_not_its_own_join() -> None:
    own = COLOUR.encode(Event(Kind.MESSAGE, nick="alice", text="mine"), True)
    assert own == f"[\x1b[1;{nick_colour('alice')}malice\x1b[0m] mine\n".encode()
    assert MONO.encode(Event(Kind.MESSAGE, nick="alice", text="mine"), True) == b"[alice] mine\n"
    assert COLOUR.encode(Event(Kind.JOIN, nick="alice", gateway=Gateway.SSH), True) is None


def test_a_nick_inside_the_text_is_left_alone() -> None:
    data = COLOUR.encode(Event(Kind.MESSAGE, nick="al", text="[al] is me"), False)
    assert data is not None and data.decode().endswith("] [al] is me\n")


@given(st.text())
def test_no_user_text_can_add_an_escape_sequence(text: str) -> None:
    event = Event(Kind.MESSAGE, nick="alice", text=clean_text(text))
    data = COLOUR.encode(event, False)
    assert data is not None
    assert SGR.sub("", data.decode()).count("\x1b") == 0


@pytest.mark.parametrize(
    ("term", "colour"),
    [
        ("xterm-256color", True),
        ("xterm", True),
        ("screen", True),
        ("tmux-256color", True),
        ("linux", True),
        ("alacritty", True),
        ("vt100", False),
        ("dumb", False),
        ("VT220", False),
    ],
)
def test_colour_follows_the_terminal_type(term: str, colour: bool) -> None:
    assert supports_colour(term) is colour

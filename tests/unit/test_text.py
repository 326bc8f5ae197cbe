"""Text hygiene: no terminal ever receives an escape sequence or control character from a user,
whatever the text is (a message, a reason, a topic) and whenever it was stored; the server's log
gets it escaped, on one line."""

from __future__ import annotations

import io
import logging
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.codecs.lines import format_lines
from app.codecs.wire import event_to_dict
from app.domain.events import Event, Kind, RoomInfo
from app.domain.goodbye import Goodbye
from app.domain.text import clean_text, escaped, shown, shown_lines
from app.ops.logs import OneLine

FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        # escape sequences go whole, leaving no "[31m" debris
        ("\x1b[31mred\x1b[0m text", "red text"),
        ("a\x1b[1;32;40mb", "ab"),
        ("a\x1b[?25lb", "ab"),  # private CSI (hide cursor)
        ("\x1b[2J\x1b[Hclear", "clear"),
        ("a\x1b]0;new title\x07b", "ab"),  # OSC ended by BEL
        ("a\x1b]8;;http://evil\x1b\\link\x1b]8;;\x1b\\b", "alinkb"),  # OSC 8 hyperlink, ended by ST
        ("a\x1bPq#0;2;0;0;0\x1b\\b", "ab"),  # DCS
        ("a\x1b_apc\x1b\\b", "ab"),  # APC
        ("a\x1bcb", "ab"),  # two-byte escape (reset)
        ("a\x1b]52;c;ZXZpbA==\x07b", "ab"),  # OSC 52: writes the reader's clipboard
        ("a\x1b]52;c;ZXZpbA==\x1b\\b", "ab"),  # the same, ended by ST
        ("a\x1b]2;title\x1b\\b", "ab"),  # window title, ended by ST
        ("a\x1b]52;c;ZXZp\nbA==\x07b", "ab"),  # a line break inside does not end it early
        ("a\x1b", "a"),  # lone trailing ESC
        ("a\x9b31mb", "ab"),  # C1 CSI
        # single control characters
        ("ding\x07dong", "dingdong"),
        ("nul\x00l", "null"),
        ("back\x08space", "backspace"),
        ("del\x7fete", "delete"),
        ("c1\x85\x90\x9c\x9fend", "c1 end"),
        # whitespace
        ("tab\there", "tab here"),
        ("two\nlines", "two lines"),
        ("crlf\r\nend", "crlf  end"),
        ("cr\rover", "cr over"),  # a carriage return would let a line overwrite itself
        ("vt\vff\fend", "vt ff end"),
        ("ls\u2028ps\u2029end", "ls ps end"),  # Unicode line and paragraph separators
        ("fs\x1cgs\x1drs\x1eend", "fs gs rs end"),
        ("  padded  ", "padded"),
        ("\t\n", ""),
        # bidi overrides and isolates
        ("bob\u202eecila", "bobecila"),
        ("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069x", "x"),
        # directional marks, which reorder what is around them as well
        ("admin\u200f: \u061cok\u200e", "admin: ok"),
        # lone surrogates (a JSON "\ud800" escape decodes to one) cannot be sent as UTF-8
        ("a\ud800b\udfffc", "abc"),
        ("\ud83d", ""),
    ],
)
def test_controls_and_escapes_are_removed(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean


@pytest.mark.parametrize(
    "text",
    [
        "hello, world",
        "emoji 😀👍🏽 family 👨‍👩‍👧",
        "שלום עולם",  # right-to-left text without overrides
        "مرحبا بالعالم",
        "accents: café naïve Ångström",
        "CJK: 你好，世界",
        "math: ∑ ≤ ∞",
        "[brackets] and \\backslashes\\ and ~tilde~",
    ],
)
def test_ordinary_unicode_is_untouched(text: str) -> None:
    assert clean_text(text) == text


# Any character, with controls and the rarely drawn lone surrogates and bidi controls boosted.
ALPHABET = st.one_of(
    st.characters(),
    st.characters(max_codepoint=0x9F),
    st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff", "\u202e", "\u2067", "\u200f", "\u061c"]),
)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=ALPHABET, max_size=80))
def test_clean_text_has_no_controls_encodes_as_utf8_and_is_idempotent(text: str) -> None:
    cleaned = clean_text(text)
    assert not FORBIDDEN.search(cleaned)
    assert "\x1b" not in cleaned
    cleaned.encode("utf-8")  # no lone surrogates: every socket can carry it
    assert clean_text(cleaned) == cleaned


CONTROLISH = st.sampled_from(["\x1b", "\x1b[", "\x1b]", "\x9b", "\x07", "\x00", "\x7f", "\u202e", "\t", "\n", "[", ";"])


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(CONTROLISH, st.text(max_size=3)), max_size=20).map("".join))
def test_clean_text_on_escape_heavy_input(text: str) -> None:
    cleaned = clean_text(text)
    assert not FORBIDDEN.search(cleaned)
    assert clean_text(cleaned) == cleaned


@pytest.mark.parametrize(
    ("raw", "logged"),
    [
        ("plain words, café", "plain words, café"),
        ("two\nlines", "two\\nlines"),
        ("crlf\r\n2026-01-01 forged", "crlf\\r\\n2026-01-01 forged"),
        ("tab\there", "tab\\there"),
        ("\x1b]52;c;ZXZpbA==\x07", "\\x1b]52;c;ZXZpbA==\\x07"),
        ("nel\x85", "nel\\x85"),
        ("bidi\u202eevil", "bidi\\u202eevil"),
        ("ls\u2028", "ls\\u2028"),
        ("a\\nb and \n", "a\\\\nb and \\n"),  # a typed backslash-n cannot pass for a line break
    ],
)
def test_the_log_writes_text_escaped_on_one_line(raw: str, logged: str) -> None:
    assert escaped(raw) == logged
    assert escaped(raw).isprintable()


def test_a_log_line_holding_a_line_break_stays_one_line_and_a_traceback_keeps_its_lines() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.addFilter(OneLine())
    logger = logging.getLogger("test.one_line")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("kicked: %s", "spam\n2026-12-08 00:00:00 root banned everyone")
        try:
            raise ValueError("boom")
        except ValueError:
            logger.exception("failed for %s", "a\x1b[2J")
    finally:
        logger.removeHandler(handler)
    first, second, *traceback = out.getvalue().splitlines()
    assert first == "kicked: spam\\n2026-12-08 00:00:00 root banned everyone"
    assert second == "failed for a\\x1b[2J"
    assert traceback[0] == "Traceback (most recent call last):" and traceback[-1] == "ValueError: boom"


RAW = "\x1b]52;c;ZXZpbA==\x07\x1b[2J\u202eevil\n* forged line\u2028end"
"""Text as an older release may have stored it."""
STORED = [
    Event(Kind.MESSAGE, nick="ann", text=RAW),
    Event(Kind.LEAVE, nick="ann", text=RAW),
    Event(Kind.PART, nick="ann", text=RAW, room="#dev"),
    Event(Kind.TOPIC, nick="ann", text=RAW, room="#dev"),
    Event(Kind.MODERATION, nick="op", to="ann", text=f"ann was kicked by op: {RAW}", code="kick"),
    Event(Kind.ROOM, room="#dev", text=RAW),
    Event(Kind.ROOMS, rooms=(RoomInfo("#dev", 2, RAW),), total=1),
    Event(Kind.SYSTEM, text=f"Topic of #dev: {RAW}"),
    Event(Kind.ERROR, text=f"No one here is called {RAW}", code="no_such_nick"),
]


@pytest.mark.parametrize("event", STORED, ids=[event.kind.value for event in STORED])
def test_every_codec_shows_stored_text_clean(event: Event) -> None:
    lines = format_lines(event)
    assert all(line.isprintable() for line in lines), lines
    assert not any(line.startswith("* forged") for line in lines)
    shown_json = event_to_dict(event)
    texts = [shown_json.get("text", ""), shown_json.get("topic", "")]
    texts += [room["topic"] for room in shown_json.get("rooms", [])]
    for text in texts:
        assert all(line.isprintable() for line in text.split("\n")), text


def test_a_goodbye_shows_its_reason_clean_and_on_one_line() -> None:
    """A notice's line breaks are the server's: what a person wrote must be cleaned before it is put
    in one (as a goodbye's reason is), since no codec can tell the two apart afterwards."""
    assert Goodbye.KICKED.line(RAW) == "Disconnected: you were kicked (evil * forged line end)"
    assert Goodbye.BANNED.close_reason(RAW) == "banned: evil * forged line end"


def test_shown_keeps_spacing_and_the_servers_own_lines() -> None:
    assert shown("  indented\tline ") == "  indented line "
    assert shown_lines("Commands:\n  /help\x07 this\n") == "Commands:\n  /help this\n"

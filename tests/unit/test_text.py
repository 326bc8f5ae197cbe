"""Text hygiene: no terminal ever receives an escape sequence or control character from a user."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.domain.text import clean_text

FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


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
        ("  padded  ", "padded"),
        ("\t\n", ""),
        # bidi overrides and isolates
        ("bob\u202eecila", "bobecila"),
        ("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069x", "x"),
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
    st.sampled_from(["\ud800", "\udbff", "\udc00", "\udfff", "\u202e", "\u2067"]),
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

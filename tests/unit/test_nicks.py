"""Nick rules: what a nick may be, and when two nicks are the same."""

from __future__ import annotations

import pytest

from app.domain.nicks import MAX_NICK_LENGTH, RESERVED, NickError, nick_key, normalize_nick


@pytest.mark.parametrize(
    ("raw", "nick"),
    [
        ("alice", "alice"),
        ("  alice  ", "alice"),
        ("Al_ice-2", "Al_ice-2"),
        ("ａｌｉｃｅ", "alice"),  # fullwidth letters
        ("Ｂｏｂ１", "Bob1"),
        ("José", "José"),
        ("Jose\u0301", "José"),  # combining accent composes
        ("Ølaf", "Ølaf"),
        ("ﬁona", "fiona"),  # ligature
        ("Дмитрий", "Дмитрий"),
        ("太郎", "太郎"),
        ("n" * MAX_NICK_LENGTH, "n" * MAX_NICK_LENGTH),
    ],
)
def test_accepted_nicks_are_normalized(raw: str, nick: str) -> None:
    assert normalize_nick(raw) == nick


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("", "cannot be empty"),
        ("   ", "cannot be empty"),
        ("n" * (MAX_NICK_LENGTH + 1), f"at most {MAX_NICK_LENGTH} characters"),
        ("al ice", "letters, digits, '_' and '-'"),
        ("al.ice", "letters, digits, '_' and '-'"),
        ("alice!", "letters, digits, '_' and '-'"),
        ("bob\u202eecila", "reorder text (U+202E RIGHT-TO-LEFT OVERRIDE)"),
        ("\u2067bob", "reorder text (U+2067 RIGHT-TO-LEFT ISOLATE)"),
        ("bob\u200fx", "reorder text (U+200F RIGHT-TO-LEFT MARK)"),
        ("bob\u200b", "invisible characters (U+200B ZERO WIDTH SPACE)"),
        ("bob\u3164", "invisible characters (U+3164 HANGUL FILLER)"),
        ("\u115fbob", "invisible characters (U+115F HANGUL CHOSEONG FILLER)"),
        ("\u3164", "invisible characters (U+3164 HANGUL FILLER)"),  # a nick that shows as nothing
        ("\u2800", "letters, digits, '_' and '-'"),  # braille blank
        ("аlicе", "look-alike scripts (Cyrillic, Latin)"),
        ("paypaӏ", "look-alike scripts (Cyrillic, Latin)"),
        ("r00t", "'r00t' is reserved"),  # reserved by its look, too
        ("bob\x1b[31m", "letters, digits, '_' and '-'"),
        ("😀", "letters, digits, '_' and '-'"),
        ("admin", "'admin' is reserved"),
        ("Server", "'Server' is reserved"),
        ("ＲＯＯＴ", "'ROOT' is reserved"),
    ],
)
def test_refused_nicks_say_why(raw: str, reason: str) -> None:
    with pytest.raises(NickError) as refusal:
        normalize_nick(raw)
    assert reason in str(refusal.value)


def test_every_reserved_name_is_refused_in_any_case() -> None:
    for name in RESERVED:
        for variant in (name, name.upper(), name.title()):
            with pytest.raises(NickError, match="reserved"):
                normalize_nick(variant)


@pytest.mark.parametrize(
    ("a", "b"),
    [("alice", "ALICE"), ("alice", "ａｌｉｃｅ"), ("Straße", "STRASSE"), ("José", "Jose\u0301")],
)
def test_nicks_with_the_same_key_are_the_same(a: str, b: str) -> None:
    assert nick_key(a) == nick_key(b)


def test_different_nicks_have_different_keys() -> None:
    assert nick_key("alice") != nick_key("alice2")

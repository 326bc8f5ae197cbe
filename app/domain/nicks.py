"""Nick rules: what a nick may be, and when two nicks are the same — to a reader, not to a computer.

Two nicks are the same if they differ only in case or width (``Alice``, ``ａｌｉｃｅ``), or if
they look alike: the Unicode confusables skeleton of UTS #39 maps ``аlicе`` (Cyrillic а and е),
``aIice`` (capital I) and ``a1ice`` to ``alice``. The skeleton comes from ICU, which ships and
maintains Unicode's confusables table; a nick is held under both identities at once (as IRC
servers such as Ergo do), since case folding and the skeleton each see likenesses the other
misses. Characters that show as nothing (fillers, zero-width), that reorder text (bidi
controls) and mixes of look-alike scripts (Latin with Cyrillic or Greek) are refused outright.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from typing import Generic, TypeVar

import icu

MAX_NICK_LENGTH = 24
RESERVED = frozenset(
    {
        "server",
        "system",
        "admin",
        "administrator",
        "root",
        "operator",
        "moderator",
        "chat",
        "chatserver",
        "you",
        "me",
        "everyone",
        "all",
        "nobody",
        "anonymous",
    }
)

_SPOOF = icu.SpoofChecker()
_SPOOF.setChecks(icu.USpoofChecks.RESTRICTION_LEVEL)
_SPOOF.setRestrictionLevel(icu.URestrictionLevel.MODERATELY_RESTRICTIVE)
"""Latin may go with one other script, except the look-alike ones (Cyrillic, Greek, Cherokee);
any other script alone is fine (UTS #39 §5.2, "Moderately Restrictive")."""


class NickError(ValueError):
    """A refused nick; the message is the reason shown to the user."""


def normalize_nick(raw: str) -> str:
    """NFKC-normalize a requested nick and check it, raising NickError with a clear reason."""
    raw = raw.strip()
    for char in raw:  # as typed, so the reason names what the user sent
        if icu.Char.hasBinaryProperty(char, icu.UProperty.BIDI_CONTROL):
            raise NickError(f"a nick cannot contain characters that reorder text ({_name(char)})")
        if icu.Char.hasBinaryProperty(char, icu.UProperty.DEFAULT_IGNORABLE_CODE_POINT):
            raise NickError(f"a nick cannot contain invisible characters ({_name(char)})")
    nick = unicodedata.normalize("NFKC", raw)
    if not nick:
        raise NickError("a nick cannot be empty")
    if len(nick) > MAX_NICK_LENGTH:
        raise NickError(f"a nick is at most {MAX_NICK_LENGTH} characters")
    if not all(char.isalnum() or char in "_-" for char in nick):
        raise NickError("a nick may only use letters, digits, '_' and '-'")
    if _SPOOF.check(nick):
        raise NickError(f"a nick cannot mix look-alike scripts ({', '.join(_scripts(nick))})")
    if nick_key(nick) in RESERVED or skeleton_key(nick) in _RESERVED_LOOKS:
        raise NickError(f"'{nick}' is reserved")
    return nick


def nick_key(nick: str) -> str:
    """A nick's identity up to case and width: the key it is found by (``/msg ALICE``)."""
    return unicodedata.normalize("NFKC", nick).casefold()


def skeleton_key(nick: str) -> str:
    """A nick's identity up to look-alike characters: the UTS #39 skeleton, case-folded."""
    return _SPOOF.getSkeleton(0, unicodedata.normalize("NFKC", nick)).casefold()


_RESERVED_LOOKS = frozenset(map(skeleton_key, RESERVED))


def _name(char: str) -> str:
    return f"U+{ord(char):04X} {unicodedata.name(char, 'unnamed')}"


def _scripts(nick: str) -> list[str]:
    names = {icu.Script.getScript(char).getName() for char in nick}
    return sorted(names - {"Common", "Inherited"})


Holder = TypeVar("Holder")


class NickIndex(Generic[Holder]):
    """Who holds which nick, found by either identity of a nick (``nick_key`` or ``skeleton_key``)."""

    __slots__ = ("_by_key", "_by_skeleton")

    def __init__(self) -> None:
        self._by_key: dict[str, Holder] = {}
        self._by_skeleton: dict[str, Holder] = {}

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Holder]:
        return iter(self._by_key.values())

    def get(self, nick: str) -> Holder | None:
        """Whoever holds ``nick`` or a nick that looks like it."""
        holder = self._by_key.get(nick_key(nick))
        return holder if holder is not None else self._by_skeleton.get(skeleton_key(nick))

    def add(self, nick: str, holder: Holder) -> None:
        self._by_key[nick_key(nick)] = holder
        self._by_skeleton[skeleton_key(nick)] = holder

    def remove(self, nick: str, holder: Holder) -> None:
        """Forget ``holder`` under ``nick`` (never someone else who came to hold a look-alike)."""
        for index, key in ((self._by_key, nick_key(nick)), (self._by_skeleton, skeleton_key(nick))):
            if index.get(key) is holder:
                del index[key]

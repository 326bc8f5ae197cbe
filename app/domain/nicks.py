"""Nick rules: what a nick may be, and the key that makes two nicks the same."""

from __future__ import annotations

import unicodedata

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


class NickError(ValueError):
    """A refused nick; the message is the reason shown to the user."""


def normalize_nick(raw: str) -> str:
    """NFKC-normalize a requested nick and check it, raising NickError with a clear reason."""
    nick = unicodedata.normalize("NFKC", raw.strip())
    if not nick:
        raise NickError("a nick cannot be empty")
    if len(nick) > MAX_NICK_LENGTH:
        raise NickError(f"a nick is at most {MAX_NICK_LENGTH} characters")
    for char in nick:
        if not (char.isalnum() or char in "_-"):
            raise NickError("a nick may only use letters, digits, '_' and '-'")
    if nick_key(nick) in RESERVED:
        raise NickError(f"'{nick}' is reserved")
    return nick


def nick_key(nick: str) -> str:
    """The identity of a nick: two nicks with the same key cannot be used at once."""
    return unicodedata.normalize("NFKC", nick).casefold()

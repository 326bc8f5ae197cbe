"""Protected nicks: who owns a nick and how they prove it.

A registration's identity is a password hash and/or key fingerprints (an SSH client's key proves
the nick with no password), plus the digests of the tokens its owner's devices keep. Hashing is
done by the caller, off the event loop; these rules only keep the records.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from app.domain.stored import Stored

DAY = 86400.0
MAX_TOKENS = 10
"""Tokens a registered nick holds at once (one per device its owner signs in from)."""
TOKEN_ID = 6
"""Characters of a token's digest that name it."""
MAX_ADDRESSES = 10
"""Recent addresses a registration remembers its owner by."""


@dataclass(frozen=True, slots=True)
class DeviceToken(Stored):
    """A token one device keeps to prove the nick ``mask`` without its password (the page's saved
    sign-in). Only its digest is kept, each in a record of its own, so devices proving the nick in
    different processes at once never overwrite each other's; ``id`` (the digest's first characters,
    which say nothing of the token) names it in ``/token list`` and ``/token revoke``."""

    mask: str
    id: str
    digest: str
    created: float
    last_used: float

    @classmethod
    def made(cls, mask: str, digest: str, now: float) -> DeviceToken:
        return cls(mask, digest[:TOKEN_ID], digest, now, now)

    @property
    def key(self) -> str:
        """Its record's key in the store."""
        return f"{self.mask} {self.id}"


@dataclass(frozen=True, slots=True)
class Registration(Stored):
    """A protected nick. ``mask`` is its nick key; ``last_used`` (wall clock) moves each time its
    owner proves it, and a registration unused for the expiry lapses."""

    nick: str
    mask: str
    password: str | None = None
    """``app.passwords.hash_password``'s result, or None for a key-only registration."""
    fingerprints: tuple[str, ...] = ()
    tokens: tuple[DeviceToken, ...] = ()
    """The tokens its owner's devices keep, oldest first (at most ``MAX_TOKENS``); stored in
    records of their own (``stored``)."""
    registered: float = 0.0
    last_used: float = 0.0
    proved_from: tuple[tuple[str, float], ...] = ()
    """The addresses (per-address budgets) its owner proved it from lately, and when: an attempt
    from one of them is not held back by strangers' guesses at the nick."""

    def lapsed(self, now: float, expiry_days: float) -> bool:
        return expiry_days > 0 and now - self.last_used > expiry_days * DAY

    def used(self, now: float, address: str | None = None, since: float = 0.0) -> Registration:
        """Proved at ``now`` from ``address`` (None: an exempt peer, which proves nothing of its
        own); addresses last seen before ``since`` are forgotten."""
        kept = tuple((known, at) for known, at in self.proved_from if known != address and at >= since)
        if address is not None:
            kept = (*kept, (address, now))
        return replace(self, last_used=now, proved_from=kept[-MAX_ADDRESSES:])

    def proven_from(self, address: str | None, since: float) -> bool:
        return address is not None and any(known == address and at >= since for known, at in self.proved_from)

    def with_token(self, digest: str, now: float) -> tuple[Registration, DeviceToken]:
        """A new token beside the others; past ``MAX_TOKENS`` the ones unused the longest go."""
        token = DeviceToken.made(self.mask, digest, now)
        kept = sorted(self.tokens, key=lambda t: t.last_used)[max(0, len(self.tokens) - (MAX_TOKENS - 1)) :]
        return replace(self, tokens=(*(t for t in self.tokens if t in kept), token)), token

    def token_used(self, token: DeviceToken, now: float) -> Registration:
        return replace(self, tokens=tuple(replace(t, last_used=now) if t == token else t for t in self.tokens))

    def without_tokens(self, ids: frozenset[str] | None = None) -> Registration:
        """Revoke tokens ``ids`` (None: all of them)."""
        return replace(self, tokens=tuple(t for t in self.tokens if ids is not None and t.id not in ids))

    def stored(self) -> str:
        """Its record, without the tokens (each kept in a record of its own)."""
        return replace(self, tokens=()).record()

    @classmethod
    def decoded(cls, data: dict[str, Any]) -> dict[str, Any]:
        data = dict(data)
        single = data.pop("token", None)  # a record from before devices had tokens of their own
        tokens = ()
        if single:
            made, used = data.get("registered", 0.0), data.get("last_used", 0.0)
            tokens = (DeviceToken(data["mask"], single[:TOKEN_ID], single, made, used),)
        proved = tuple((str(address), float(at)) for address, at in data.get("proved_from", ()))
        fingerprints = tuple(data.get("fingerprints", ()))
        return {**data, "fingerprints": fingerprints, "tokens": tokens, "proved_from": proved}

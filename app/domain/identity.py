"""Protected nicks and the attempts to prove one: who owns a nick, how they prove it, and how
many wrong guesses an address or a nick gets.

A registration's identity is a password hash and/or key fingerprints (an SSH client's key proves
the nick with no password), plus the digest of the token the page keeps. Hashing is done by the
caller, off the event loop; these rules only compare and count.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any

from app.domain.stored import Stored

DAY = 86400.0


@dataclass(frozen=True, slots=True)
class Registration(Stored):
    """A protected nick. ``mask`` is its nick key; ``last_used`` (wall clock) moves each time its
    owner proves it, and a registration unused for the expiry lapses."""

    nick: str
    mask: str
    password: str | None = None
    """``app.passwords.hash_password``'s result, or None for a key-only registration."""
    fingerprints: tuple[str, ...] = ()
    token: str | None = None
    """The digest of the token the page keeps to identify without the password."""
    registered: float = 0.0
    last_used: float = 0.0

    def lapsed(self, now: float, expiry_days: float) -> bool:
        return expiry_days > 0 and now - self.last_used > expiry_days * DAY

    def used(self, now: float) -> Registration:
        return replace(self, last_used=now)

    @classmethod
    def decoded(cls, data: dict[str, Any]) -> dict[str, Any]:
        return {**data, "fingerprints": tuple(data.get("fingerprints", ()))}


@dataclass(slots=True)
class Attempts:
    """Failed guesses (of the operator password, of a nick's password) per key, in a sliding window:
    past ``limit`` failures the key must wait until the oldest one ages out."""

    limit: int = 5
    window: float = 600.0
    failures: dict[str, deque[float]] = field(default_factory=dict)

    def wait(self, key: str, now: float) -> float:
        """Seconds ``key`` must wait before another attempt (0: it may try now)."""
        recent = self.failures.get(key)
        if recent is None:
            return 0.0
        while recent and now - recent[0] >= self.window:
            recent.popleft()
        if not recent:
            del self.failures[key]
            return 0.0
        return self.window - (now - recent[0]) if len(recent) >= self.limit else 0.0

    def failed(self, key: str, now: float) -> None:
        self.failures.setdefault(key, deque()).append(now)
        if len(self.failures) > 100_000:  # a spray from everywhere: forget the oldest keys, stay bounded
            for stale in list(self.failures)[:50_000]:
                del self.failures[stale]

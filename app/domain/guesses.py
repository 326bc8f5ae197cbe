"""Limits on guessing a password (the operator's, a registered nick's): whom a guess counts
against, and how long each must wait before the next.

An attempt is counted *before* its password is checked, so a burst of guesses in one write cannot
all slip past the count while the first ones are being hashed. Counts are kept per connection and
per (address, what is guessed); past a few free attempts each next one waits twice as long as the
last (growing delays, never a hard lockout). Only a nick has a count of its own across all
addresses (a spread-out guesser), and its owner skips it from an address that proved the nick
recently; nothing counts per operator password alone, so guesses from a shared address (loopback,
a trusted proxy) slow only their own connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from app.domain.identity import DAY


class Door(StrEnum):
    """What a guess tries to open: what the audit log names, and what its counts are kept under."""

    OPER = "oper"
    IDENTIFY = "identify"


@dataclass(frozen=True, slots=True)
class GuessPolicy:
    free: int = 5
    """Attempts a connection, or an address at one door, makes before it must wait."""
    delay: float = 30.0
    """The first wait (``CHAT_GUESS_DELAY``); each later one is twice the one before."""
    max_delay: float = 3600.0
    """The longest wait (``CHAT_GUESS_MAX_DELAY``); counts are forgotten after that long without an attempt."""
    nick_free: int = 50
    """Attempts at one nick from everywhere together before each must wait (its owner, from an
    address that proved it recently, is not held back by them)."""
    remember_days: float = 30.0
    """Days an address that proved a nick stays known as its owner's."""

    def wait_after(self, attempts: int, free: int) -> float:
        """Seconds before the attempt after ``attempts`` counted ones may be made."""
        if attempts < free:
            return 0.0
        return min(self.delay * 2 ** min(attempts - free, 64), self.max_delay)

    def schedule(self, free: int) -> tuple[float, ...]:
        """The wait after each counted attempt, the 1st to the first that waits the longest (and so
        every one after it): what a shared store applies without knowing these rules."""
        waits = [self.wait_after(attempts, free) for attempts in range(1, free + 1)]
        while self.delay > 0 and waits[-1] < self.max_delay:
            waits.append(self.wait_after(len(waits) + 1, free))
        return tuple(waits)

    def remembered_since(self, now: float) -> float:
        return now - self.remember_days * DAY


def connection_key(connection: str) -> str:
    return f"conn:{connection}"


@dataclass(frozen=True, slots=True)
class Limit:
    """One count an attempt is made against."""

    key: str
    free: int
    shared: bool
    """Kept where every process counts it (an address, a nick); else by this process (a connection)."""
    forgiven: bool = True
    """Cleared when the attempt proves right (not so a nick's count, which strangers share)."""


def limits(
    door: Door, connection: str, address: str | None, nick: str, remembered: bool, policy: GuessPolicy
) -> tuple[Limit, ...]:
    """The counts an attempt at ``door`` (naming ``nick``, if it is /identify) is made against,
    narrowest first: a connection, then its address (None: an exempt peer, which many share),
    then the nick from everywhere unless ``remembered`` (its address proved the nick recently)."""
    counts = [Limit(connection_key(connection), policy.free, shared=False)]
    target = f"{door}:{nick}" if door is Door.IDENTIFY else str(door)
    if address is not None:
        counts.append(Limit(f"{target}:{address}", policy.free, shared=True))
    if door is Door.IDENTIFY and not remembered:
        counts.append(Limit(target, policy.nick_free, shared=True, forgiven=False))
    return tuple(counts)

"""Checking a password someone typed: counted first, then hashed off the event loop.

The limits are the domain's (``app.domain.guesses``); the counts every process shares are the
moderation store's (``app.bus.moderation``); a connection's own are kept here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from redis.exceptions import RedisError

from app.bus.moderation import GuessCounter, LocalGuesses
from app.domain.guesses import GuessPolicy, Limit, connection_key

log = logging.getLogger("app.moderation")


class Verdict(Enum):
    PROVED = "proved"
    WRONG = "wrong"
    THROTTLED = "throttled"  # counted against a limit it is past: the password was not even checked
    UNCOUNTED = "uncounted"  # the shared counts cannot be reached (Redis away): nothing is checked uncounted


@dataclass(frozen=True, slots=True)
class Checked:
    verdict: Verdict
    wait: float = 0.0
    """Throttled: seconds until the next attempt may be made."""


class Verifier:
    """Password checks run off the event loop, each attempt counted first against every limit it
    falls under (``app.domain.guesses``), so a burst cannot outrun its count."""

    def __init__(self, shared: GuessCounter, policy: GuessPolicy, clock: Callable[[], float]) -> None:
        self.shared = shared
        self.local = LocalGuesses()
        """A connection's counts (a connection lives in one process)."""
        self.policy = policy
        self.clock = clock

    async def verify(self, counts: tuple[Limit, ...], check: Callable[[], bool]) -> Checked:
        """Count the attempt against ``counts`` (narrowest first; the first one past its limit
        throttles it, and the wider ones are left uncounted), then run ``check``."""
        now = self.clock()
        try:
            for limit in counts:
                counter = self.shared if limit.shared else self.local
                wait = await counter.attempt(limit.key, now, self.policy.schedule(limit.free), self.policy.max_delay)
                if wait:
                    return Checked(Verdict.THROTTLED, wait)
        except (OSError, RedisError) as problem:
            log.warning("cannot count a password attempt: %s", problem)
            return Checked(Verdict.UNCOUNTED)
        if not await asyncio.get_running_loop().run_in_executor(None, check):
            return Checked(Verdict.WRONG)
        for limit in counts:
            if limit.forgiven:
                with contextlib.suppress(OSError, RedisError):  # the count then ages out by itself
                    await (self.shared if limit.shared else self.local).forgive(limit.key)
        return Checked(Verdict.PROVED)

    def left(self, connection: str) -> None:
        self.local.drop(connection_key(connection))



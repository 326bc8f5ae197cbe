"""Flood control: a token bucket per connection and per address, and a strike count for abuse.

A strike is a line refused for coming too fast, or input refused outright (bad frames, over-long
lines, ...): a client whose input is mostly refused runs out of strikes within seconds.

Pure and clock-driven (the caller passes ``now``), so it is tested without sleeping.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum


@dataclass(slots=True)
class TokenBucket:
    """Allows ``burst`` lines at once, refilled at ``rate`` lines per second."""

    burst: float
    rate: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, burst: float, rate: float, now: float) -> TokenBucket:
        return cls(burst, rate, burst, now)

    def refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now


class Verdict(Enum):
    ALLOW = "allow"
    REFUSE = "refuse"
    KICK = "kick"


@dataclass(slots=True)
class Strikes:
    """Refusals within a sliding window; too many means the client ignores our notices.

    The window's deque is made at the first refusal: most connections never get one, and an
    empty deque is a sizeable part of an idle connection's memory."""

    limit: int
    window: float
    times: deque[float] | None = None

    def add(self, now: float) -> bool:
        """Record a refusal; True when the limit is reached."""
        times = self.times
        if times is None:
            times = self.times = deque()
        times.append(now)
        while times and now - times[0] > self.window:
            times.popleft()
        return len(times) >= self.limit


@dataclass(slots=True)
class FloodPolicy:
    """The limits; ``rate <= 0`` switches flood control off (for benchmarks)."""

    burst: int = 5
    rate: float = 2.0
    kick_after: int = 30
    kick_window: float = 60.0

    @property
    def enabled(self) -> bool:
        return self.rate > 0


class FloodControl:
    """Decides whether a line may pass. A line needs a token from its connection's bucket and,
    unless the address is exempt, from its address's bucket too: ten tabs share one budget."""

    def __init__(self, policy: FloodPolicy) -> None:
        self.policy = policy
        self._connections: dict[int, tuple[TokenBucket, Strikes]] = {}
        self._addresses: dict[str, tuple[TokenBucket, int]] = {}

    def open(self, conn: int, address: str | None, now: float) -> None:
        """Start tracking a connection; ``address`` None means exempt from the per-address budget."""
        p = self.policy
        self._connections[conn] = (TokenBucket.full(p.burst, p.rate, now), Strikes(p.kick_after, p.kick_window))
        if address is not None:
            bucket, users = self._addresses.get(address, (TokenBucket.full(p.burst, p.rate, now), 0))
            self._addresses[address] = (bucket, users + 1)

    def connections_from(self, address: str) -> int:
        """How many open connections share this address's budget (exempt ones are not counted)."""
        entry = self._addresses.get(address)
        return entry[1] if entry is not None else 0

    def close(self, conn: int, address: str | None) -> None:
        self._connections.pop(conn, None)
        if address is not None and address in self._addresses:
            bucket, users = self._addresses[address]
            if users <= 1:
                del self._addresses[address]
            else:
                self._addresses[address] = (bucket, users - 1)

    def check(self, conn: int, address: str | None, now: float) -> Verdict:
        """May this line pass? REFUSE: not now (a strike); KICK: too many strikes."""
        if not self.policy.enabled or conn not in self._connections:
            return Verdict.ALLOW
        bucket, strikes = self._connections[conn]
        if self._take(bucket, address, now):
            return Verdict.ALLOW
        return Verdict.KICK if strikes.add(now) else Verdict.REFUSE

    def refused(self, conn: int, address: str | None, now: float) -> Verdict:
        """Input that could not be accepted (a bad frame, an over-long line, ...) is always a strike,
        and telling its sender why costs a token, as a line would. ALLOW: tell them; REFUSE: say
        nothing (a flood of bad input gets a few answers, not one each); KICK: too many strikes."""
        entry = self._connections.get(conn)
        if entry is None:
            return Verdict.ALLOW
        bucket, strikes = entry
        if strikes.add(now):
            return Verdict.KICK
        if not self.policy.enabled or self._take(bucket, address, now):
            return Verdict.ALLOW
        return Verdict.REFUSE

    def _take(self, bucket: TokenBucket, address: str | None, now: float) -> bool:
        """Take a token from the connection's bucket and its address's, if both have one."""
        shared = self._addresses.get(address) if address is not None else None
        if shared is not None:
            shared[0].refill(now)
        bucket.refill(now)
        if bucket.tokens >= 1.0 and (shared is None or shared[0].tokens >= 1.0):
            bucket.tokens -= 1.0
            if shared is not None:
                shared[0].tokens -= 1.0
            return True
        return False

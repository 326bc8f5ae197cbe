"""Flood control: a token bucket per connection and per address, and a strike count for abuse;
and the same buckets (``Allowance``) for other costly acts: making rooms, replaying history.

A paste is not a flood: lines arriving close together (a paste, however TCP cut it up) may run
past an empty bucket, up to the paste allowance, borrowing against the next seconds' tokens.
A flood keeps its lines close together for longer than any paste and is refused as before.

A strike is a line refused for coming too fast, or input refused outright (bad frames, over-long
lines, ...): a client whose input is mostly refused runs out of strikes within seconds.

Pure and clock-driven (the caller passes ``now``), so it is tested without sleeping.
"""

from __future__ import annotations

from collections import OrderedDict, deque
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
class Paste:
    """The run of lines a connection is sending now: each within ``PASTE_GAP`` of the one before."""

    last: float
    lines: int = 0
    size: int = 0

    def add(self, now: float, size: int) -> None:
        if now - self.last > PASTE_GAP:
            self.lines = self.size = 0  # a pause: this line starts a new run
        self.last = now
        self.lines += 1
        self.size += size


PASTE_GAP = 0.05
"""Lines this close together come from a paste or a script, not from typing: nobody types and
sends a line in 50 ms, while a pasted block arrives within milliseconds, however TCP cuts it."""


@dataclass(slots=True)
class FloodPolicy:
    """The limits; ``rate <= 0`` switches flood control off (for benchmarks). A paste of up to
    ``paste_lines`` lines and ``paste_size`` characters goes through whole."""

    burst: int = 5
    rate: float = 2.0
    kick_after: int = 30
    kick_window: float = 60.0
    paste_lines: int = 20
    paste_size: int = 4096

    @property
    def enabled(self) -> bool:
        return self.rate > 0

    @property
    def pace(self) -> str:
        """The limits in words, for /help and for a refusal."""
        pace = f"{self.burst} lines at once, then {self.rate:g} a second"
        if self.paste_lines > self.burst:
            pace += f"; a paste of up to {self.paste_lines} lines ({self.paste_size} characters) goes through whole"
        return pace

    @property
    def floor(self) -> float:
        """How far a paste may overdraw a bucket: what a whole paste costs beyond the burst."""
        return min(0.0, float(self.burst - self.paste_lines))


class FloodControl:
    """Decides whether a line may pass. A line needs a token from its connection's bucket and,
    unless the address is exempt, from its address's bucket too: ten tabs share one budget."""

    def __init__(self, policy: FloodPolicy) -> None:
        self.policy = policy
        self._connections: dict[int, tuple[TokenBucket, Strikes]] = {}
        self._addresses: dict[str, tuple[TokenBucket, int]] = {}
        self._pastes: dict[int, Paste] = {}  # made at a connection's first line: idle ones need none
        self._noise: dict[int, TokenBucket] = {}
        """Each connection's allowance of input that carries nothing, apart from its lines: Enter
        pressed a few times must not cost the next real line. Made at the first piece of noise."""

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
        self._pastes.pop(conn, None)
        self._noise.pop(conn, None)
        if address is not None and address in self._addresses:
            bucket, users = self._addresses[address]
            if users <= 1:
                del self._addresses[address]
            else:
                self._addresses[address] = (bucket, users - 1)

    def check(self, conn: int, address: str | None, now: float, size: int = 1) -> Verdict:
        """May a line of ``size`` characters pass now? REFUSE: not now (a strike); KICK: too many
        strikes."""
        if not self.policy.enabled or conn not in self._connections:
            return Verdict.ALLOW
        floor = 1.0 if not self._pasting(conn, now, size) else self.policy.floor + 1.0
        return self._spend(conn, address, now, floor)

    def control(self, conn: int, address: str | None, now: float) -> Verdict:
        """May ``count`` control messages (a WebSocket ping) pass? Each costs what a line does, but
        is never part of a paste: free while the bucket holds (it refills, so an occasional
        keepalive costs nothing), a strike each beyond it, so a stream of them is cut like any
        flood. The verdict is the last one's (KICK as soon as strikes run out)."""
        if not self.policy.enabled or conn not in self._connections:
            return Verdict.ALLOW
        return self._spend(conn, address, now, 1.0)

    def noise(self, conn: int, now: float, count: int = 1) -> Verdict:
        """May ``count`` pieces of noise (a blank line, a telnet NOP, an empty frame) pass? They
        draw on an allowance of their own, as large as a paste and refilled at the line rate, so
        that they never cost a real line; each beyond it is a strike, so a stream of nothing is
        cut like any flood. The verdict is the last one's (KICK as soon as strikes run out)."""
        entry = self._connections.get(conn)
        if not self.policy.enabled or entry is None:
            return Verdict.ALLOW
        p = self.policy
        bucket = self._noise.get(conn)
        if bucket is None:
            bucket = self._noise[conn] = TokenBucket.full(max(p.burst, p.paste_lines), p.rate, now)
        bucket.refill(now)
        verdict = Verdict.ALLOW
        for _ in range(count):
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                continue
            verdict = Verdict.REFUSE
            if entry[1].add(now):
                return Verdict.KICK
        return verdict

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
        if not self.policy.enabled or self._take(bucket, address, now, 1.0):
            return Verdict.ALLOW
        return Verdict.REFUSE

    def _spend(self, conn: int, address: str | None, now: float, floor: float) -> Verdict:
        bucket, strikes = self._connections[conn]
        if self._take(bucket, address, now, floor):
            return Verdict.ALLOW
        return Verdict.KICK if strikes.add(now) else Verdict.REFUSE

    def _take(self, bucket: TokenBucket, address: str | None, now: float, floor: float) -> bool:
        """Take a token from the connection's bucket and its address's, if both hold ``floor``
        (a paste may overdraw them: its floor is below one)."""
        shared = self._addresses.get(address) if address is not None else None
        if shared is not None:
            shared[0].refill(now)
        bucket.refill(now)
        if bucket.tokens >= floor and (shared is None or shared[0].tokens >= floor):
            bucket.tokens -= 1.0
            if shared is not None:
                shared[0].tokens -= 1.0
            return True
        return False

    def _pasting(self, conn: int, now: float, size: int) -> bool:
        """Add the line to its connection's run; True while the run is within the paste allowance."""
        paste = self._pastes.get(conn)
        if paste is None:
            paste = self._pastes[conn] = Paste(now)
        paste.add(now, size)
        return paste.lines > 1 and paste.lines <= self.policy.paste_lines and paste.size <= self.policy.paste_size


@dataclass(frozen=True, slots=True)
class AllowancePolicy:
    """``burst`` at once, then ``rate`` a second; ``rate <= 0`` means no limit."""

    burst: float
    rate: float

    @property
    def enabled(self) -> bool:
        return self.rate > 0


@dataclass(frozen=True, slots=True)
class Budgets:
    """What costly acts other than lines may take: rooms made (counted in rooms, per connection
    and per address) and history replayed on connecting (in bytes, per address)."""

    rooms: AllowancePolicy = AllowancePolicy(10, 0.1)
    replay: AllowancePolicy = AllowancePolicy(8 << 20, 1 << 20)


class Allowance:
    """A token bucket per connection and per address for one costly act (making a room, replaying
    history). An address's bucket outlives its connections until it has filled up again, so
    reconnecting earns nothing; a connection's goes with it (``close``).

    Costs are whole units (rooms, bytes). A bucket holding a unit pays for any cost, even one
    beyond what it holds (it goes into debt): a single large act is allowed, and what follows
    waits until the debt is repaid."""

    def __init__(self, policy: AllowancePolicy) -> None:
        self.policy = policy
        self._connections: dict[int, TokenBucket] = {}
        self._addresses: OrderedDict[str, TokenBucket] = OrderedDict()
        """Least recently used first, so the ones full again are found (and dropped) at the front."""

    def take(self, conn: int | None, address: str | None, now: float, cost: float = 1.0) -> bool:
        """Spend ``cost`` from the connection's bucket (None: it has none) and the address's (None:
        exempt) unless either is spent (then False, and nothing is spent). Nothing costs nothing."""
        policy = self.policy
        if not policy.enabled or cost <= 0:
            return True
        self._prune(now)
        buckets = []
        if conn is not None:
            buckets.append(self._connections.setdefault(conn, TokenBucket.full(policy.burst, policy.rate, now)))
        if address is not None:
            bucket = self._addresses.pop(address, None) or TokenBucket.full(policy.burst, policy.rate, now)
            self._addresses[address] = bucket
            buckets.append(bucket)
        for bucket in buckets:
            bucket.refill(now)
        if any(bucket.tokens < 1 for bucket in buckets):
            return False
        for bucket in buckets:
            bucket.tokens -= cost
        return True

    def spent(self, address: str | None, now: float) -> bool:
        """Whether the address cannot pay for anything now (it holds less than a unit, or is in
        debt): cheaper to ask than working out what an act would cost."""
        bucket = self._addresses.get(address) if address is not None and self.policy.enabled else None
        if bucket is None:
            return False
        bucket.refill(now)
        return bucket.tokens < 1

    def close(self, conn: int) -> None:
        self._connections.pop(conn, None)

    def _prune(self, now: float) -> None:
        """Forget the addresses whose buckets are full again (as a new one would be)."""
        addresses = self._addresses
        while addresses:
            bucket = next(iter(addresses.values()))
            if bucket.tokens + (now - bucket.updated) * bucket.rate < bucket.burst:
                return
            addresses.popitem(last=False)

"""Presence notices under churn.

While the room is calm every join and leave is announced on its own. When many people come and
go at once (a reconnect storm after a deploy, a class joining together), announcing each to
everyone costs the square of the crowd; instead the notices of the rest of that window are
folded into one summary ("37 joined, 2 left"). Presence itself (the room's member list, /who)
stays exact throughout: only the notices are folded.

What a notice costs is one write to every member, so the bigger the room the fewer go out one by
one: up to ``calm`` a window in a room of up to ``crowd`` people, fewer in proportion in a bigger
one (at most ``calm × crowd`` writes a window), and in a room of thousands only the first of each
window. A big room then gets at most two presence frames a window, whatever the rate of arrivals.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.domain.events import Event, Gateway, Kind, User
from app.domain.nicks import nick_key

PRESENCE_KINDS = frozenset({Kind.JOIN, Kind.LEAVE})

SAMPLE = "sample"
"""The code of a summary whose ``users`` are a sample of who is here now, not who came: it folded
more comings and goings than it could name, so a list kept from notices starts again from it."""


@dataclass(slots=True)
class ChurnGate:
    """Counts presence notices per window and folds those beyond the room's allowance into a summary."""

    calm: int = 10
    window: float = 1.0
    listed: int = 100
    crowd: int = 100
    _started: float = float("-inf")
    _count: int = 0
    _folding: bool = False
    """This window is past its allowance: the rest of it is folded, even if the room shrinks meanwhile."""
    _changes: dict[str, tuple[User, bool]] = field(default_factory=dict)

    def allowance(self, population: int) -> int:
        """Notices a window announced one by one in a room of ``population`` people."""
        if population <= self.crowd:
            return self.calm
        return max(1, self.calm * self.crowd // population)

    def admit(self, now: float, population: int = 0) -> bool:
        """True to announce this presence notice on its own; False to fold it."""
        if now - self._started >= self.window:
            self._started, self._count, self._folding = now, 0, False
        self._count += 1
        self._folding = self._folding or self._count > self.allowance(population)
        return not self._folding

    @property
    def pending(self) -> bool:
        """Notices are folded and waiting for their summary."""
        return bool(self._changes)

    def fold(self, event: Event) -> None:
        """Remember the net effect of a join or leave: the last one per nick wins."""
        user = User(event.nick, event.gateway or Gateway.WEB)  # joins and leaves always carry one
        self._changes.pop(nick_key(event.nick), None)
        self._changes[nick_key(event.nick)] = (user, event.kind is Kind.JOIN)

    def summary(self, total: int, sample: tuple[User, ...] = ()) -> Event | None:
        """One notice for everything folded since the last summary, or None if nothing was.

        It names who came and went when they fit in ``listed`` each; past that it gives the
        counts and ``sample`` (who is here now, at most ``listed``), marked with ``SAMPLE``."""
        if not self._changes:
            return None
        joined = [user for user, present in self._changes.values() if present]
        left = [user for user, present in self._changes.values() if not present]
        self._changes.clear()
        parts = [f"{len(joined)} joined"] if joined else []
        parts += [f"{len(left)} left"] if left else []
        text = f"{', '.join(parts)} — {total} here now"
        if len(joined) > self.listed or len(left) > self.listed:
            return Event(Kind.PRESENCE, text=text, users=sample[: self.listed], total=total, code=SAMPLE)
        return Event(Kind.PRESENCE, text=text, users=tuple(joined), left=tuple(left), total=total)

"""Presence notices under churn.

While the room is calm every join and leave is announced on its own. When many people come and
go at once (a reconnect storm after a deploy, a class joining together), announcing each to
everyone costs the square of the crowd; instead the notices of the rest of that window are
folded into one summary ("37 joined, 2 left"). Presence itself (the room's member list, /who)
stays exact throughout: only the notices are folded.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.domain.events import Event, Gateway, Kind, User
from app.domain.nicks import nick_key

PRESENCE_KINDS = frozenset({Kind.JOIN, Kind.LEAVE})


@dataclass(slots=True)
class ChurnGate:
    """Counts presence notices per window and folds those beyond ``calm`` into a summary."""

    calm: int = 10
    window: float = 1.0
    listed: int = 100
    _started: float = float("-inf")
    _count: int = 0
    _changes: dict[str, tuple[User, bool]] = field(default_factory=dict)

    def admit(self, now: float) -> bool:
        """True to announce this presence notice on its own; False to fold it."""
        if now - self._started >= self.window:
            self._started, self._count = now, 0
        self._count += 1
        return self._count <= self.calm

    def fold(self, event: Event) -> None:
        """Remember the net effect of a join or leave: the last one per nick wins."""
        user = User(event.nick, event.gateway or Gateway.WEB)  # joins and leaves always carry one
        self._changes.pop(nick_key(event.nick), None)
        self._changes[nick_key(event.nick)] = (user, event.kind is Kind.JOIN)

    def summary(self, total: int) -> Event | None:
        """One notice for everything folded since the last summary, or None if nothing was."""
        if not self._changes:
            return None
        joined = [user for user, present in self._changes.values() if present]
        left = [user for user, present in self._changes.values() if not present]
        self._changes.clear()
        parts = [f"{len(joined)} joined"] if joined else []
        parts += [f"{len(left)} left"] if left else []
        return Event(
            Kind.PRESENCE,
            text=f"{', '.join(parts)} — {total} here now",
            users=tuple(joined[: self.listed]),
            left=tuple(left[: self.listed]),
            total=total,
        )

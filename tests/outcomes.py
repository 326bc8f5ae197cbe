"""Reading a room's outcomes in unit tests: what a member is told, what is published."""

from __future__ import annotations

from app.domain.events import Event, Outcome, Publish, Tell


def told(outcomes: list[Outcome], member: int) -> list[Event]:
    return [o.event for o in outcomes if isinstance(o, Tell) and o.member == member]


def published(outcomes: list[Outcome]) -> list[Event]:
    return [o.event for o in outcomes if isinstance(o, Publish)]

"""What the hub needs from a bus, whichever engine sits behind it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from app.bus.history import History
from app.domain.events import Event

Deliver = Callable[[Event], None]


class Bus(Protocol):
    """Sequences public events. ``publish`` never blocks; stamped events come back through the
    ``deliver`` callback given to ``start``, in id order, including this process's own.
    ``history`` holds the recent ones for replay."""

    history: History

    @property
    def last_id(self) -> int: ...

    @property
    def persisted_id(self) -> int | None: ...

    async def start(self, deliver: Deliver) -> None: ...

    def publish(self, event: Event) -> None: ...

    async def stop(self) -> None: ...

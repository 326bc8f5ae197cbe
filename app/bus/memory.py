"""The embedded bus: one process, one counter. The default, needing no external service."""

from __future__ import annotations

import time
from collections import deque

from app.bus.base import Deliver
from app.domain.events import Event


class InProcessBus:
    """Stamps each public event with the next id and the current time and delivers it.

    An event published while another is being delivered (a slow reader dropped mid-broadcast
    publishes its leave) waits until that delivery is complete, so every client sees ids in order.
    """

    def __init__(self) -> None:
        self._last_id = 0
        self._deliver: Deliver | None = None
        self._queue: deque[Event] = deque()
        self._delivering = False

    async def start(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def publish(self, event: Event) -> None:
        if self._deliver is None:
            raise RuntimeError("bus not started")
        self._last_id += 1
        self._queue.append(event.stamped(self._last_id, time.time()))
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._queue:
                self._deliver(self._queue.popleft())
        finally:
            self._delivering = False

    async def stop(self) -> None:
        self._deliver = None

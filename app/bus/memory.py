"""The embedded bus: one process, one counter. The default, needing no external service."""

from __future__ import annotations

import asyncio
import time
from collections import deque

from app.bus.base import Deliver, Listener
from app.bus.history import History, SqliteStore
from app.domain.events import Event


class InProcessBus:
    """Stamps each public event with the next id and the current time, keeps it in history, and
    delivers it.

    An event published while another is being delivered (a slow reader dropped mid-broadcast
    publishes its leave) waits until that delivery is complete, so every client sees ids in order.
    """

    engine = "memory"
    process = ""
    degraded = False
    unsent = 0  # published events are sequenced at once

    def __init__(self, history: History | None = None, store: SqliteStore | None = None) -> None:
        self.history = history if history is not None else History()
        self.store = store
        self._last_id = 0
        self._deliver: Deliver | None = None
        self._queue: deque[Event] = deque()
        self._delivering = False

    @property
    def persisted_id(self) -> int | None:
        """The newest id safely on disk (None when history is kept in memory only)."""
        return self.store.persisted_id if self.store else None

    async def start(self, deliver: Deliver, listener: Listener | None = None) -> None:
        if self.store is not None:
            for event in await asyncio.to_thread(self.store.load):
                self.history.append(event)
            self.store.start()
        self._last_id = self.history.last_id
        self._deliver = deliver

    def publish(self, event: Event) -> None:
        if self._deliver is None:
            raise RuntimeError("bus not started")
        self._last_id += 1
        event = event.stamped(self._last_id, time.time())
        self.history.append(event)
        if self.store is not None:
            self.store.append(event)
        self._queue.append(event)
        if self._delivering:
            return
        self._delivering = True
        try:
            while self._queue:
                self._deliver(self._queue.popleft())
        finally:
            self._delivering = False

    def forward(self, process: str, member: int, event: Event) -> None:
        raise RuntimeError("no other process shares this room")

    @property
    def last_id(self) -> int:
        return self._last_id

    async def stop(self) -> None:
        self._deliver = None
        if self.store is not None:
            await asyncio.to_thread(self.store.close)

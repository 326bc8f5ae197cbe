"""The embedded bus: one process, one counter. The default, needing no external service."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from app.bus.base import Deliver, Listener
from app.bus.history import History
from app.bus.sqlite import RUNWAY, SqliteStore
from app.domain.events import Event, Kind

CATCH_UP_WAIT = 0.5
"""Seconds one event may wait for the writer to reserve ids before it is held instead."""

HELD_CHAT = 200
"""Messages that may wait for the store to reserve ids (a disk refusing writes for longer than a
runway); beyond it they are refused with a clear error. Joins, leaves and nick changes always
wait, as with an unreachable Redis: dropping them would corrupt presence."""

_CHAT_KINDS = frozenset({Kind.MESSAGE, Kind.ACTION})


class InProcessBus:
    """Stamps each public event with the next id and the current time, has it written, keeps it
    in history, and delivers it.

    **Seen means stored.** With a store, the events stamped in one loop turn go to the writer
    together (one transaction: a group commit) and reach history and clients only once that
    commit is done, so whatever a client was shown survives ``kill -9``. A slow disk delays
    delivery, by at most ``write_wait`` seconds: past it (a hung disk) or while writes fail (a
    full one) events are delivered unsaved, ``problem`` says so, and a crash then is told as a
    gap (see ``app.bus.sqlite``). No id above the store's reserved mark is handed out: events
    published beyond it wait, in order, until the writer has raised the mark.

    An event published while another is being delivered (a slow reader dropped mid-broadcast
    publishes its leave) waits until that delivery is complete, so every client sees ids in order;
    and ``after_delivered`` keeps a reply behind the events published before it.
    """

    engine = "memory"
    process = ""
    degraded = False

    def __init__(
        self, history: History | None = None, store: SqliteStore | None = None, write_wait: float = 2.0
    ) -> None:
        self.history = history if history is not None else History()
        self.store = store
        self.write_wait = write_wait
        self._last_id = 0
        self._reserved = float("inf") if store is None else 0
        """Ids up to here are safe to hand out: the store can never hand them out again."""
        self._top_up_at = float("inf")
        """When the last id reaches this, ask the store to reserve the next runway."""
        self._deliver: Deliver | None = None
        self._listener: Listener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._turn: list[Event] = []
        """Stamped this loop turn: given to the writer together when the turn ends."""
        self._unwritten: deque[Event] = deque()
        """Given to the writer, not yet written: delivered once they are (or once overdue)."""
        self._due: deque[tuple[float, int]] = deque()
        """For each batch given to the writer: when it is overdue (loop time), and its last id."""
        self._overdue: asyncio.TimerHandle | None = None
        self._unsaved_shown = 0
        """The newest id delivered before it was written (a hung disk): degraded until it is."""
        self._queue: deque[Event] = deque()
        self._delivered = 0
        """The last id delivered."""
        self._after: deque[tuple[int, Callable[[], None]]] = deque()
        """Callbacks waiting for every id up to theirs to be delivered (``after_delivered``)."""
        self._held: deque[Event] = deque()
        self._held_chat = 0
        self._delivering = False

    @property
    def unsent(self) -> int:
        """Events held until the store has reserved ids for them."""
        return len(self._held)

    @property
    def persisted_id(self) -> int | None:
        """The newest id safely on disk (None when history is kept in memory only)."""
        return self.store.persisted_id if self.store else None

    @property
    def problem(self) -> str | None:
        """Why history is not being saved right now, if it is not."""
        if self.store is None:
            return None
        if self.store.problem is None and self._unsaved_shown > self.store.persisted_id:
            return (
                f"saving history to {self.store.path} takes longer than {self.write_wait:g} s:"
                " events are delivered before they are saved"
            )
        return self.store.problem

    async def start(self, deliver: Deliver, listener: Listener | None = None) -> None:
        """Load what the store kept (``StoreError`` if it cannot be used), then number above
        anything an earlier run may have handed out."""
        if self.store is not None:
            store = self.store
            self.history.restore(await asyncio.to_thread(store.load), store.losses)
            self._last_id = store.floor
            self._raised(store.reserved_id)
            loop = self._loop = asyncio.get_running_loop()
            store.start(lambda: loop.call_soon_threadsafe(self._progress))
        else:
            self._last_id = self.history.last_id
        self._delivered = self._last_id  # what earlier runs delivered is history: nothing to wait for
        self._deliver, self._listener = deliver, listener

    def publish(self, event: Event) -> None:
        if self._deliver is None:
            raise RuntimeError("bus not started")
        if self._last_id >= self._reserved and not self._held:
            self._catch_up()
        if self._held or self._last_id >= self._reserved:
            self._hold(event)
            return
        self._stamp(event)
        self._drain()

    def _catch_up(self) -> None:
        """Every reserved id is used (a burst handled in one loop turn outran the writer): wait
        here for the writer to raise the mark, slowing this turn down rather than letting the
        lag grow. Returns at once while the disk refuses writes: events are then held."""
        assert self.store is not None
        self._end_turn()  # the writer saves the turn so far with the mark it raises
        self.store.wait_reserved(self._last_id + 1, CATCH_UP_WAIT)
        self._progress()

    def _stamp(self, event: Event) -> None:
        self._last_id += 1
        event = event.stamped(self._last_id, time.time())
        if self.store is None:
            self._queue.append(event)
            return
        if not self._turn:
            assert self._loop is not None
            self._loop.call_soon(self._end_turn)
        self._turn.append(event)
        if self._last_id >= self._top_up_at:
            self._top_up_at = float("inf")  # once per runway, until the store confirms
            self.store.reserve(self._last_id + RUNWAY)

    def _end_turn(self) -> None:
        """Give the turn's events to the writer in one batch; deliver them once written, at
        once while writes fail (the disk-full case: told, and the chat goes on)."""
        if not self._turn or self.store is None or self._loop is None:
            return
        batch, self._turn = self._turn, []
        self.store.save(batch)
        self._unwritten.extend(batch)
        self._due.append((self._loop.time() + self.write_wait, batch[-1].id))
        if self._overdue is None:
            self._overdue = self._loop.call_at(self._due[0][0], self._deliver_overdue)
        if self.store.problem is not None:
            self._release(batch[-1].id)

    def _progress(self) -> None:
        """The writer committed (or failed to): deliver what is written, or everything while
        writes fail, and hand out the ids the raised mark allows."""
        assert self.store is not None
        written = self._last_id if self.store.problem is not None else self.store.persisted_id
        self._release(written)
        self._raised(self.store.reserved_id)

    def _deliver_overdue(self) -> None:
        """The oldest batch has waited ``write_wait`` for the disk: deliver what has."""
        assert self._loop is not None
        self._overdue = None
        now = self._loop.time()
        overdue = 0
        while self._due and self._due[0][0] <= now:
            overdue = self._due.popleft()[1]
        if overdue and self._unwritten and self._unwritten[0].id <= overdue:
            self._unsaved_shown = overdue
            self._release(overdue)
        if self._due:
            self._overdue = self._loop.call_at(self._due[0][0], self._deliver_overdue)

    def _release(self, upto: int) -> None:
        """Deliver, in order, the events waiting for the writer up to id ``upto``."""
        while self._unwritten and self._unwritten[0].id <= upto:
            self._queue.append(self._unwritten.popleft())
        while self._due and self._due[0][1] <= upto:
            self._due.popleft()
        self._drain()

    def after_delivered(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once every event published so far has been delivered (at once when
        none is waiting), so that a reply never overtakes what its asker said just before it."""
        if self._delivered >= self._last_id and not self._after:
            callback()
        else:
            self._after.append((self._last_id, callback))

    def _drain(self) -> None:
        if self._delivering or self._deliver is None:
            return
        self._delivering = True
        try:
            while self._queue:
                event = self._queue.popleft()
                self.history.append(event)  # with its delivery: a replay then has it, or it is live
                self._deliver(event)
                self._delivered = event.id
                while self._after and self._after[0][0] <= event.id:
                    self._after.popleft()[1]()
        finally:
            self._delivering = False

    def _hold(self, event: Event) -> None:
        chat = event.kind in _CHAT_KINDS
        if chat and self._held_chat >= HELD_CHAT:
            if self._listener is not None:
                self._listener.refused(event, "full")
            return
        self._held.append(event)
        self._held_chat += chat

    def _raised(self, upto: int) -> None:
        """The store has made ids up to ``upto`` durable: hand out the events that waited."""
        if upto <= self._reserved:
            return
        self._reserved = upto
        self._top_up_at = upto - RUNWAY // 2
        while self._held and self._last_id < self._reserved:
            event = self._held.popleft()
            self._held_chat -= event.kind in _CHAT_KINDS
            self._stamp(event)
        self._drain()

    def forget(self, room: str) -> None:
        self.history.forget(room)
        if self.store is not None:
            self.store.forget(room)

    def forward(self, process: str, member: int, event: Event) -> None:
        raise RuntimeError("no other process shares this room")

    @property
    def last_id(self) -> int:
        return self._last_id

    async def stop(self) -> None:
        """Write what this turn stamped (the leaves of a shutdown), then stop the writer."""
        self._end_turn()
        self._deliver = None
        if self._overdue is not None:
            self._overdue.cancel()
            self._overdue = None
        if self.store is not None:
            await asyncio.to_thread(self.store.close, self._last_id)

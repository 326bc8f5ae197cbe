"""Per-client outboxes: batching per loop turn, overflow, back-pressure. A fake flusher records
the marks and the test plays the end of a loop turn by calling ``turn``; one test runs the real
``Flusher`` in an event loop."""

from __future__ import annotations

import asyncio

from app.gateways.outbox import Flusher, Outbox, OutboxLimits


class FakeFlusher:
    def __init__(self) -> None:
        self.marked: list[Outbox[str]] = []

    def mark(self, outbox: Outbox[str]) -> None:
        self.marked.append(outbox)

    def turn(self) -> None:
        """End of a loop turn: flush what was marked, as ``Flusher`` does."""
        marked, self.marked = self.marked, []
        for outbox in marked:
            outbox.flush()


class Harness:
    def __init__(self, max_events: int = 4, max_bytes: int = 100) -> None:
        self.flusher = FakeFlusher()
        self.writes: list[list[str]] = []
        self.accept = True
        self.overflows = 0
        self.outbox: Outbox[str] = Outbox(
            OutboxLimits(max_events, max_bytes),
            self.flusher,  # type: ignore[arg-type]
            self.write,
            self.overflow,
        )

    def write(self, chunks: list[str]) -> bool:
        self.writes.append(chunks)
        return self.accept

    def overflow(self) -> None:
        self.overflows += 1


def test_pushes_in_one_turn_are_marked_once_and_written_in_one_call() -> None:
    h = Harness()
    for chunk in ("a", "b", "c"):
        h.outbox.push(chunk)
    assert h.flusher.marked == [h.outbox]
    assert h.writes == []
    h.flusher.turn()
    assert h.writes == [["a", "b", "c"]]
    assert len(h.outbox) == 0


def test_each_turn_marks_again() -> None:
    h = Harness()
    h.outbox.push("a")
    h.flusher.turn()
    h.outbox.push("b")
    h.outbox.push("c")
    assert h.flusher.marked == [h.outbox]
    h.flusher.turn()
    assert h.writes == [["a"], ["b", "c"]]


def test_flush_with_nothing_pending_writes_nothing() -> None:
    h = Harness()
    h.outbox.flush()
    assert h.writes == []


def test_overflow_by_events_drops_pending_and_reports_once() -> None:
    h = Harness(max_events=3, max_bytes=1000)
    for chunk in ("1", "2", "3"):
        h.outbox.push(chunk)
    assert h.overflows == 0
    h.outbox.push("4")
    assert h.overflows == 1
    assert len(h.outbox) == 0
    h.outbox.push("5")  # discarded outbox accepts nothing more
    h.flusher.turn()
    assert h.writes == []
    assert h.overflows == 1


def test_overflow_by_bytes() -> None:
    h = Harness(max_events=100, max_bytes=10)
    h.outbox.push("x" * 6)
    h.outbox.push("y" * 4)  # exactly at the limit
    assert h.overflows == 0
    h.outbox.push("z")
    assert h.overflows == 1
    h.flusher.turn()
    assert h.writes == []


def test_limit_counts_only_what_is_pending() -> None:
    h = Harness(max_events=2, max_bytes=1000)
    for _ in range(5):
        h.outbox.push("a")
        h.outbox.push("b")
        h.flusher.turn()
    assert h.overflows == 0
    assert h.writes == [["a", "b"]] * 5


def test_blocked_outbox_keeps_chunks_until_writable() -> None:
    h = Harness(max_events=10)
    h.outbox.blocked()
    h.outbox.push("a")
    h.outbox.push("b")
    assert h.flusher.marked == []
    h.flusher.turn()
    assert h.writes == []
    h.outbox.writable()
    assert h.flusher.marked == [h.outbox]
    h.flusher.turn()
    assert h.writes == [["a", "b"]]


def test_blocked_after_being_marked_does_not_write_in_that_turn() -> None:
    h = Harness()
    h.outbox.push("a")
    h.outbox.blocked()
    h.flusher.turn()
    assert h.writes == []
    h.outbox.writable()
    h.flusher.turn()
    assert h.writes == [["a"]]


def test_write_reporting_backpressure_blocks_until_writable() -> None:
    h = Harness(max_events=10)
    h.accept = False
    h.outbox.push("a")
    h.flusher.turn()
    assert h.writes == [["a"]]
    h.outbox.push("b")
    h.outbox.push("c")
    assert h.flusher.marked == []
    h.accept = True
    h.outbox.writable()
    h.flusher.turn()
    assert h.writes == [["a"], ["b", "c"]]


def test_writable_with_nothing_pending_marks_nothing() -> None:
    h = Harness()
    h.outbox.blocked()
    h.outbox.writable()
    assert h.flusher.marked == []


def test_blocked_outbox_still_overflows() -> None:
    h = Harness(max_events=2)
    h.outbox.blocked()
    for chunk in ("a", "b", "c"):
        h.outbox.push(chunk)
    assert h.overflows == 1
    h.outbox.writable()
    h.flusher.turn()
    assert h.writes == []


def test_take_empties_the_outbox_for_a_last_write() -> None:
    h = Harness()
    h.outbox.push("a")
    h.outbox.push("b")
    assert h.outbox.take() == ["a", "b"]
    h.outbox.discard()
    h.outbox.push("c")
    h.flusher.turn()
    assert h.writes == []
    assert len(h.outbox) == 0


def test_real_flusher_writes_every_dirty_outbox_once_at_the_end_of_the_turn() -> None:
    writes: list[tuple[str, list[str]]] = []

    async def scenario() -> None:
        flusher = Flusher()
        boxes = {
            name: Outbox[str](OutboxLimits(), flusher, lambda chunks, n=name: writes.append((n, chunks)) or True, list)
            for name in ("a", "b")
        }
        for i in range(3):
            for box in boxes.values():
                box.push(str(i))
        assert writes == []
        await asyncio.sleep(0)
        assert sorted(writes) == [("a", ["0", "1", "2"]), ("b", ["0", "1", "2"])]

    asyncio.run(scenario())

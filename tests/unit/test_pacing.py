"""Fair input: a connection's input is handled a bounded amount per loop turn, the rest later."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

from app.delivery.laggards import Laggards
from app.gateways.buffered import BufferedProtocol
from app.gateways.pacing import BYTES_PER_TURN, INPUT_AFTER_CLOSE, ITEMS_PER_TURN, NEXT_TURN, PacedInput, sliced


def lines(data: bytes) -> Iterator[bytes]:
    return iter(data.splitlines())


class Transport:
    def __init__(self) -> None:
        self.paused = False
        self.pauses = 0
        self.aborted = False

    def pause_reading(self) -> None:
        self.paused = True
        self.pauses += 1

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return False

    def get_extra_info(self, name: str) -> None:
        return None

    def abort(self) -> None:
        self.aborted = True


class Hub:
    def __init__(self) -> None:
        self.laggards = Laggards(later=lambda delay, callback: None)


class Connection(PacedInput, BufferedProtocol):
    __slots__ = ("closing", "handled", "hub", "id", "input_after_close", "lost", "stop_at", "transport", "waiting")

    def __init__(self, stop_at: object = None) -> None:
        self.hub = Hub()  # type: ignore[assignment]
        self.id = 1
        self.closing = False
        self.transport = Transport()  # type: ignore[assignment]
        self.lost = False
        self.waiting = None
        self.input_after_close = 0
        self.handled: list[object] = []
        self.stop_at = stop_at

    def handle(self, item: object) -> bool:
        self.handled.append(item)
        return item != self.stop_at


def test_a_read_within_the_budget_is_decoded_as_it_is() -> None:
    assert list(sliced(lines, b"a\nb\n")) == [b"a", b"b"]


def test_a_large_read_is_decoded_in_slices_with_a_turn_between() -> None:
    data = b"x" * (2 * BYTES_PER_TURN + 10)
    parts = list(sliced(iter, data))  # type: ignore[arg-type]
    assert parts.count(NEXT_TURN) == 2
    assert bytes(b for b in parts if b is not NEXT_TURN) == data  # type: ignore[misc]


async def turns_until_done(connection: Connection, items: Iterator[object]) -> list[int]:
    """How many items were handled in each loop turn, until all were."""
    handled: list[int] = []
    connection.take_input(items)
    handled.append(len(connection.handled))
    while connection.waiting is not None:
        await asyncio.sleep(0)
        handled.append(len(connection.handled) - sum(handled))
    return handled


def test_at_most_a_budget_of_items_per_turn_with_reading_paused_meanwhile() -> None:
    connection = Connection()
    per_turn = asyncio.run(turns_until_done(connection, iter(range(ITEMS_PER_TURN * 2 + 5))))
    assert per_turn == [ITEMS_PER_TURN, ITEMS_PER_TURN, 5]
    assert connection.transport.pauses == 1 and not connection.transport.paused  # type: ignore[union-attr]


def test_a_turn_marker_ends_the_turn() -> None:
    connection = Connection()
    per_turn = asyncio.run(turns_until_done(connection, iter([1, 2, NEXT_TURN, 3])))
    assert per_turn == [2, 1]


def test_a_connection_that_closes_stops_handling_what_is_left() -> None:
    connection = Connection(stop_at=3)
    asyncio.run(turns_until_done(connection, iter(range(10))))
    assert connection.handled == [0, 1, 2, 3]


def test_a_peer_that_keeps_sending_while_we_close_is_cut() -> None:
    connection = Connection()
    assert not connection.cut_if_still_sending(b"x" * INPUT_AFTER_CLOSE)
    assert not connection.transport.aborted  # type: ignore[union-attr]
    assert connection.cut_if_still_sending(b"x")
    assert connection.transport.aborted  # type: ignore[union-attr]


def test_reading_resumes_only_once_neither_fair_input_nor_the_room_holds_it() -> None:
    async def run() -> list[bool]:
        connection = Connection()
        paused = connection.transport.paused  # type: ignore[union-attr]
        seen = []
        connection.take_input(iter(range(ITEMS_PER_TURN + 1)))  # fair input: the rest waits
        connection.hub.laggards._held[connection.id] = connection  # the room holds it too
        connection.resume_input()  # the room lets go first: fair input still waits
        seen.append(connection.transport.paused)  # type: ignore[union-attr]
        connection.hub.laggards._held[connection.id] = connection
        await asyncio.sleep(0)  # fair input is done; the room still holds it
        seen.append(connection.transport.paused)  # type: ignore[union-attr]
        connection.hub.laggards.turn_over()  # the room lets go
        seen.append(connection.transport.paused)  # type: ignore[union-attr]
        return [paused, *seen]

    assert asyncio.run(run()) == [False, True, True, False]


def test_input_read_while_the_rest_waits_keeps_its_order() -> None:
    async def run() -> list[object]:
        connection = Connection()
        connection.take_input(iter(range(ITEMS_PER_TURN + 2)))
        connection.take_input(iter(["late"]))
        while connection.waiting is not None:
            await asyncio.sleep(0)
        return connection.handled

    assert asyncio.run(run()) == [*range(ITEMS_PER_TURN + 2), "late"]

"""Fair input: each connection's input is handled a bounded amount per event-loop turn.

A socket read hands over up to 256 KiB at once. Decoded and handled in one callback, a client
sending flat out would hold the loop for as long as that takes, every turn, and everyone else
would wait. Instead a connection's input is taken ``BYTES_PER_TURN`` bytes and ``ITEMS_PER_TURN``
lines or messages at a time; the rest waits for a later turn with reading paused, so TCP
back-pressure slows the sender, not the server, and other connections get their turn between.
An honest client never reaches either budget: its cost is one counter per line.

This is fairness between connections. The hub's ``Laggards`` may also hold a sender's input
while the room's readers catch up; reading resumes only once neither wants it held.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterator
from typing import TypeVar

from app.gateways.closing import reset
from app.hub.core import Hub

BYTES_PER_TURN = 64 * 1024
ITEMS_PER_TURN = 32
INPUT_AFTER_CLOSE = 64 * 1024
"""What a peer may still send once our side is closing: what was in flight, and its close frame.
One that goes on sending is not closing, and is cut rather than read until the close times out."""

NEXT_TURN = object()
"""Stands between two slices of one read: the bytes budget of this turn is spent."""

Item = TypeVar("Item")


def sliced(decode: Callable[[bytes], Iterator[Item]], data: bytes) -> Iterator[Item | object]:
    """What ``decode`` makes of ``data``, fed ``BYTES_PER_TURN`` bytes at a time, with NEXT_TURN
    between slices (a read within the budget is decoded as it is, at no extra cost)."""
    if len(data) <= BYTES_PER_TURN:
        return decode(data)
    return _slices(decode, data)


def _slices(decode: Callable[[bytes], Iterator[Item]], data: bytes) -> Iterator[Item | object]:
    yield from decode(data[:BYTES_PER_TURN])
    for start in range(BYTES_PER_TURN, len(data), BYTES_PER_TURN):
        yield NEXT_TURN
        yield from decode(data[start : start + BYTES_PER_TURN])


class PacedInput:
    """Mixin for a connection's asyncio protocol (before ``BufferedProtocol``, whose
    ``pause_input`` and ``resume_input`` it uses): feed ``take_input`` what a read decodes to, and
    ``handle`` gets it one item at a time, within the budgets."""

    __slots__ = ()
    transport: asyncio.Transport | None
    hub: Hub
    lost: bool
    waiting: Iterator[object] | None  # input left for a later turn (reading is paused meanwhile)
    input_after_close: int  # bytes received since our side began to close

    def handle(self, item: object) -> bool:
        """Act on one line or message; False when the connection is closing (stop reading)."""
        raise NotImplementedError

    def resume_input(self) -> None:
        """Read again (the hub's laggards let go), unless this connection's own input still waits
        for a later turn: it resumes once that is handled."""
        if self.waiting is None:
            super().resume_input()  # type: ignore[misc]

    def take_input(self, items: Iterator[object]) -> None:
        if self.waiting is not None and items is not self.waiting:  # read while waiting: keep the order
            self.waiting = itertools.chain(self.waiting, items)
            return
        budget = ITEMS_PER_TURN
        for item in items:
            if item is not NEXT_TURN:
                if not self.handle(item):
                    self.waiting = None
                    return
                budget -= 1
                if budget:
                    continue
            self._wait(items)
            return
        if self.waiting is not None:
            self.waiting = None
            if not self.hub.laggards.holding(self):  # type: ignore[arg-type]
                self.resume_input()

    def cut_if_still_sending(self, data: bytes) -> bool:
        """Count input that arrives while closing; past ``INPUT_AFTER_CLOSE``, cut the connection
        (True: it is cut, ignore ``data``)."""
        self.input_after_close += len(data)
        if self.input_after_close <= INPUT_AFTER_CLOSE or self.transport is None:
            return False
        reset(self.transport, lambda: self.lost)
        return True

    def _wait(self, items: Iterator[object]) -> None:
        if self.waiting is None:
            self.pause_input()  # type: ignore[attr-defined]
        self.waiting = items
        asyncio.get_running_loop().call_soon(self._next_turn)

    def _next_turn(self) -> None:
        items = self.waiting
        if items is not None and not self.lost:
            self.take_input(items)

"""Join and leave notices, room by room: announced one by one while a room is calm, folded into
one summary per room while many come and go at once (see ``app.domain.churn``)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from app.domain.churn import ChurnGate
from app.domain.events import Event


class Presence:
    def __init__(
        self,
        gate: ChurnGate,
        clock: Callable[[], float],
        later: Callable[[float, Callable[[], None]], object],
        announce: Callable[[Event], None],
        population: Callable[[str], int],
    ) -> None:
        """``gate`` is the model for each room's gate; ``announce`` sends a summary to its room;
        ``population`` says how many are in a room now."""
        self.gate = gate
        self._clock = clock
        self._later = later
        self._announce = announce
        self._population = population
        self._gates: dict[str, ChurnGate] = {}
        self._summary_due = False

    def admit(self, event: Event, room: str) -> bool:
        """True to announce this join or leave now; False when it was folded into the room's summary."""
        gate = self._gates.get(room)
        if gate is None:
            gate = self._gates[room] = replace(self.gate, _changes={})
        if gate.admit(self._clock()):
            return True
        gate.fold(event)
        if not self._summary_due:
            self._summary_due = True
            self._later(self.gate.window, self._send_summaries)
        return False

    def forget(self, room: str) -> None:
        self._gates.pop(room, None)

    def _send_summaries(self) -> None:
        self._summary_due = False
        for room, gate in list(self._gates.items()):
            summary = gate.summary(self._population(room))
            if summary is not None:
                self._announce(replace(summary, room=room))

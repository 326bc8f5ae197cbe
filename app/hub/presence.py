"""Join and leave notices, room by room: announced one by one while a room is calm, folded into
one summary per room and window while many come and go at once (see ``app.domain.churn``).

What history keeps: every join and leave is an event of its own, with its id, stored before it
is shown (``/history``, resumes and the other processes' view of who is where read them). A
summary is a view of those stored events, not an event: it has no id and is not stored, and a
replay shows the events it folded (the page folds a run of them into one line, as it did live).

Order: a room's pending summary goes out before anything else is shown in that room (a message,
a nick change, a notice announced on its own), so no one is seen to speak, rename or leave
before they are seen to arrive, and a list kept from the notices ends exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from app.domain.churn import PRESENCE_KINDS, ChurnGate
from app.domain.events import Event, User


class Presence:
    def __init__(
        self,
        gate: ChurnGate,
        clock: Callable[[], float],
        later: Callable[[float, Callable[[], None]], object],
        announce: Callable[[Event], None],
        population: Callable[[str], int],
        sample: Callable[[str, int], tuple[User, ...]],
    ) -> None:
        """``gate`` is the model for each room's gate; ``announce`` sends a summary to its room;
        ``population`` says how many are in a room now, ``sample(room, n)`` names up to n of them."""
        self.gate = gate
        self._clock = clock
        self._later = later
        self._announce = announce
        self._population = population
        self._sample = sample
        self._gates: dict[str, ChurnGate] = {}
        self._summary_due = False

    def admit(self, event: Event, room: str) -> bool:
        """True to show this event in ``room`` now (after the room's pending summary, if any);
        False for a join or leave folded into the summary to come."""
        gate = self._gates.get(room)
        if event.kind not in PRESENCE_KINDS:
            if gate is not None and gate.pending:
                self._send_summary(room, gate)
            return True
        if gate is None:
            gate = self._gates[room] = replace(self.gate, _changes={})
        if gate.admit(self._clock(), self._population(room)):
            if gate.pending:
                self._send_summary(room, gate)
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
            if gate.pending:
                self._send_summary(room, gate)

    def _send_summary(self, room: str, gate: ChurnGate) -> None:
        summary = gate.summary(self._population(room), self._sample(room, gate.listed))
        if summary is not None:
            self._announce(replace(summary, room=room))


class PresenceLog:
    """Joins and leaves in the server's log: a line each while they are few, and past ``gate``'s
    allowance one line per window with the counts ("312 joined, 5 left — 9000 here now"): a
    reconnect storm would otherwise be a line per connection, costing more than the connections."""

    def __init__(
        self,
        gate: ChurnGate,
        clock: Callable[[], float],
        later: Callable[[float, Callable[[], None]], object],
        write: Callable[[Event], None],
        population: Callable[[], int],
    ) -> None:
        """``write`` logs one event's line; ``population`` is how many are on the server now."""
        self._gate = gate
        self._clock = clock
        self._later = later
        self._write = write
        self._population = population

    def note(self, event: Event) -> None:
        gate = self._gate
        if gate.admit(self._clock()):
            self._write(event)
            return
        if not gate.pending:
            self._later(gate.window, self._summarise)
        gate.fold(event)

    def _summarise(self) -> None:
        summary = self._gate.summary(self._population())
        if summary is not None:
            self._write(summary)

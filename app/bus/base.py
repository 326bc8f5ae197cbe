"""What the hub needs from a bus, whichever engine sits behind it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from app.bus.history import Gap, History
from app.domain.events import Event
from app.domain.room import Member, RemoteMember

Deliver = Callable[[Event], None]


class Listener(Protocol):
    """What a shared bus tells the hub besides delivering events (the embedded bus never does)."""

    def degraded(self) -> None:
        """The shared room cannot be reached: local users stay, publishing is queued."""

    def recovered(self) -> None:
        """The shared room is reachable again and the queue is being sent."""

    def refused(self, event: Event, reason: str) -> None:
        """A published event was not accepted: "taken" (nick), "absent" (sender not in the room)
        or "full" (too many messages queued while degraded)."""

    def skipped(self, room: str, gap: Gap, since: int) -> None:
        """The room's ids jumped past ``since``: events the shared server lost before this
        process read them (a Redis restarted empty), which its clients are told of."""

    def forwarded(self, member: int, event: Event) -> None:
        """A private event for this process's member ``member``, sent by another process."""

    def remote_members(self, members: list[RemoteMember], rooms: dict[str, set[str]]) -> None:
        """Who is connected to the other processes, and which rooms they are in (room name -> nick
        keys), from a snapshot of the shared server."""

    def local_members(self) -> list[Member]:
        """This process's members, to register again after the shared server lost its data."""
        ...

    def rooms_of(self, member: int) -> list[str]:
        """The rooms this process's member ``member`` is in."""
        ...


class Bus(Protocol):
    """Sequences public events. ``publish`` never blocks; stamped events come back through the
    ``deliver`` callback given to ``start``, in id order, including this process's own.
    ``history`` holds the recent ones for replay."""

    history: History
    engine: str
    """"memory" or "redis", for /healthz."""
    process: str
    """This process's name in a shared room ("" when the room lives in this process only)."""

    @property
    def last_id(self) -> int: ...

    @property
    def persisted_id(self) -> int | None: ...

    @property
    def degraded(self) -> bool: ...

    @property
    def unsent(self) -> int:
        """Events published here and not yet numbered: waiting for the shared room, or for the
        history store to reserve ids."""
        ...

    @property
    def problem(self) -> str | None:
        """Why events are not being saved or shared right now (None when all is well), for /healthz."""

    async def start(self, deliver: Deliver, listener: Listener | None = None) -> None: ...

    def publish(self, event: Event) -> None: ...

    def forward(self, process: str, member: int, event: Event) -> None: ...

    def after_delivered(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once the events published so far have been delivered (where the
        bus can tell; else at once)."""

    def forget(self, room: str) -> None:
        """The room was forgotten to make space for a new one: drop its history."""

    async def stop(self) -> None: ...

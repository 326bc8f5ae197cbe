"""WebSocket keepalive: one timer pings every connection, instead of timers per connection.

Every ``interval`` seconds each connection that is not still waiting for a pong gets a ping;
``timeout`` seconds later, one check closes those that have not answered. A timer per
connection would cost two timer handles each and thousands of wake-ups; this costs one float
per connection (the time its answer is due, shared by all pinged in the same round).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from websockets.frames import Opcode

from app.codecs.wsframe import control_frame

PING = control_frame(Opcode.PING)
"""Every ping is the same empty one: any pong proves the peer alive, so none need telling apart."""


class Pingable(Protocol):
    pong_due: float
    """When the answer to the ping in flight is due; 0.0 when none is."""

    def send_ping(self, frame: bytes) -> None: ...

    def ping_timed_out(self) -> None: ...


class Keepalive:
    """Pings the connections it holds; they leave it when they close."""

    def __init__(self, interval: float, timeout: float) -> None:
        """``interval`` 0 switches pings off; ``timeout`` 0 pings without ever giving up."""
        self.interval = interval
        self.timeout = timeout
        self.members: set[Pingable] = set()
        self._timer: asyncio.TimerHandle | None = None

    def add(self, connection: Pingable) -> None:
        if not self.interval:
            return
        self.members.add(connection)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._ping)

    def discard(self, connection: Pingable) -> None:
        self.members.discard(connection)

    def _ping(self) -> None:
        if not self.members:
            self._timer = None
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + self.timeout
        for connection in list(self.members):
            if not connection.pong_due:
                if self.timeout:
                    connection.pong_due = due
                connection.send_ping(PING)
        if self.timeout:
            loop.call_later(self.timeout, self._expire, due)
        self._timer = loop.call_later(self.interval, self._ping)

    def _expire(self, due: float) -> None:
        """Close the connections whose answer was due by ``due`` and has not come."""
        for connection in list(self.members):
            if connection.pong_due and connection.pong_due <= due:
                connection.ping_timed_out()

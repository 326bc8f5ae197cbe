"""Keeping telnet users through proxies that cut idle connections (Fly.io's after 60 s).

TCP keepalive probes never cross a proxy: it answers them itself, and counts only data. So when
the room has been quiet, the server sends each TCP client something that carries no meaning: a
telnet client that has shown it speaks telnet (it sent a telnet command) gets ``IAC NOP``, which
its terminal never shows; any other client (``nc``, or telnet before it negotiated anything)
gets nothing, unless the operator chose visible pings, an empty line. Nobody sees a stray byte
that was not asked for.

One timer for the whole door, ticking every half interval: a tick after a quiet half interval
pings, so no connection goes more than ``interval`` seconds without traffic. A busy room costs
nothing (the tick sees the channel delivered something and does no more).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Protocol

from app.fanout import Channel

if TYPE_CHECKING:
    from app.hub import Hub


class Pingable(Protocol):
    def ping(self, visible: bool) -> None:
        """Send the idle ping that suits this client (maybe none)."""


class IdlePing:
    """Pings the quiet clients of one channel; ``interval`` 0 switches it off."""

    def __init__(self, hub: Hub, channel: Channel[bytes], interval: float, visible: bool) -> None:
        self.hub = hub
        self.channel = channel
        self.interval = interval
        self.visible = visible
        self._seen = -1
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> None:
        if self.interval and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval / 2, self._tick)

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _tick(self) -> None:
        self._timer = asyncio.get_running_loop().call_later(self.interval / 2, self._tick)
        delivered, self._seen = self._seen, self.channel.delivered
        if delivered != self._seen:
            return  # the room spoke since the last tick: every client of the channel got traffic
        for client in list(self.hub.clients.values()):
            if client.outbox.channel is self.channel:
                client.ping(self.visible)  # type: ignore[attr-defined]

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

from app.delivery.fanout import Channel

if TYPE_CHECKING:
    from app.hub.core import Hub


class Pingable(Protocol):
    def ping(self, visible: bool) -> None:
        """Send the idle ping that suits this client (maybe none)."""


class IdlePing:
    """Pings the quiet clients of one kind (their current room said nothing lately); ``interval`` 0: off."""

    def __init__(self, hub: Hub, channel: Channel[bytes], interval: float, visible: bool) -> None:
        self.hub = hub
        self.channel = channel
        self.interval = interval
        self.visible = visible
        self._seen: dict[Channel[bytes], int] = {}
        """How many chunks each room's channel had delivered at the last tick."""
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
        before = self._seen
        self._seen = {channel: channel.delivered for channel in self.hub.switchboard if channel.kind is self.channel}
        for client in list(self.hub.clients.values()):
            home = client.outbox.channel
            if home.kind is self.channel and before.get(home, -1) == self._seen.get(home):  # its room was quiet
                client.ping(self.visible)  # type: ignore[attr-defined]

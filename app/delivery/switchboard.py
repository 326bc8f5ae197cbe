"""Which fan-out channel serves which room: one per room and kind of client.

The gateways make one channel per kind of client (telnet lines, JSON, plain-text frames): those
serve the default room, so a server where nobody ever joins another room runs exactly the
channels it always did. Another room's channels are made from them the first time a client of
that kind is seated there, and dropped when the room is forgotten.
"""

from __future__ import annotations

from collections.abc import Iterator

from app.delivery.fanout import Channel


class Switchboard:
    def __init__(self, default: str) -> None:
        self.default = default
        self.kinds: list[Channel] = []  # type: ignore[type-arg]
        """The default room's channels, one per kind of client, as the gateways made them."""
        self._rooms: dict[str, list[Channel]] = {}  # type: ignore[type-arg]
        """Every other room's channels, as many as the kinds of client seated there so far."""

    def of(self, room: str) -> list[Channel]:  # type: ignore[type-arg]
        """The room's channels (an empty list for a room nobody here was ever seated in)."""
        if room == self.default or not room:
            return self.kinds
        return self._rooms.get(room, [])

    def channel(self, room: str, kind: Channel) -> Channel:  # type: ignore[type-arg]
        """The channel of ``room`` for the clients of ``kind`` (a default room's channel), made on first use."""
        if room == self.default:
            return kind
        channels = self._rooms.setdefault(room, [])
        for channel in channels:
            if channel.kind is kind:
                return channel
        channel = kind.sibling(room)
        channels.append(channel)
        return channel

    def forget(self, room: str) -> None:
        """The room was forgotten (it is empty): its channels go with it."""
        self._rooms.pop(room, None)

    def __iter__(self) -> Iterator[Channel]:  # type: ignore[type-arg]
        """Every channel of every room."""
        yield from self.kinds
        for channels in self._rooms.values():
            yield from channels

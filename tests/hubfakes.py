"""Fakes for testing the hub without sockets: codecs that count their work and clients whose
writes are recorded (reading them plays the end of the loop turn first)."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

from app.bus.memory import InProcessBus
from app.codecs import telnet, wire
from app.codecs.lines import NOT_ECHOED
from app.delivery.fanout import Channel, Flusher, Outbox
from app.delivery.laggards import Laggards
from app.domain.churn import ChurnGate
from app.domain.events import Event, Gateway
from app.domain.flood import FloodPolicy
from app.domain.goodbye import Goodbye
from app.domain.room import Room
from app.hub.core import Admission, Hub

REMOTE = "198.51.100.1"


class JsonCodec:
    """The WebSocket JSON codec, counting how often it is asked to encode."""

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, event: Event, own: bool) -> str:
        self.calls += 1
        return wire.encode_event(event, own)

    def pack(self, chunks: list[str]) -> list[bytes]:
        return [wire.batch(chunks).encode()]


class LineCodec:
    """Like the TCP gateway's codec: no echo of what a line sender typed."""

    def __init__(self) -> None:
        self.calls = 0

    def encode(self, event: Event, own: bool) -> bytes | None:
        self.calls += 1
        if own and event.kind in NOT_ECHOED:
            return None
        return telnet.encode_event(event, own)

    def pack(self, chunks: list[bytes]) -> list[bytes]:
        return [b"".join(chunks)]


def channel_for(hub: Hub, codec: JsonCodec | LineCodec) -> Channel:  # type: ignore[type-arg]
    """The hub's channel for a codec, made on first use, flushed by hand (see ``FakeClient``)."""
    for channel in hub.channels:
        if channel.codec is codec:
            return channel
    channel = Channel(codec, hub.laggards, Flusher(schedule=lambda flush: None))
    hub.channels.append(channel)
    return channel


class FakeClient:
    """A client whose writes are recorded; reading them plays the end of the loop turn first."""

    def __init__(self, hub: Hub, codec: JsonCodec | LineCodec, address: str = REMOTE) -> None:
        self.hub = hub
        self.id = hub.next_id()
        self.codec = codec
        self.gateway = Gateway.TELNET if isinstance(codec, LineCodec) else Gateway.WEB
        self.address = address
        self.budget = hub.budget(address)
        self.written: list[bytes] = []
        self.closed: list[tuple[Goodbye, bytes | str | None]] = []
        self.outbox = Outbox(channel_for(hub, codec), self.written.append, lambda: None)
        self.paused = False  # its input is left unread (the room waits for its readers)

    @property
    def received(self) -> list[bytes]:
        for channel in self.hub.channels:
            channel.flusher.flush()
        return self.written

    def send(self, chunk: bytes | str) -> None:
        self.outbox.push(chunk)  # type: ignore[arg-type]

    def hide_input(self, hidden: bool) -> None:
        self.hidden = hidden

    def pause_input(self) -> None:
        self.paused = True

    def resume_input(self) -> None:
        self.paused = False

    def close(self, goodbye: Goodbye, notice: bytes | str | None, detail: str = "") -> None:
        self.closed.append((goodbye, notice))

    def frames(self) -> list[dict[str, Any]]:
        decoded = [json.loads(data) for data in self.received]
        return [frame for item in decoded for frame in (item if isinstance(item, list) else [item])]

    def text(self) -> str:
        return b"".join(self.received).decode()

    def clear(self) -> None:
        self.received.clear()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def make_hub(
    flood: FloodPolicy | None = None,
    admission: Admission | None = None,
    clock: Clock | None = None,
    churn: ChurnGate | None = None,
    later: Callable[[float, Callable[[], None]], object] = lambda delay, callback: None,
) -> Hub:
    """A hub on a started in-process bus; flood control is off unless a policy is given, and a
    churn summary is only sent when the test calls what ``later`` was given."""
    bus = InProcessBus()
    policy, clock = flood or FloodPolicy(rate=0), clock or Clock()
    laggards = Laggards(clock=clock, later=later)
    hub = Hub(Room(rng=random.Random(1)), bus, policy, admission, clock, churn, later, laggards)
    asyncio.run(bus.start(hub.deliver))
    return hub


def join(hub: Hub, codec: JsonCodec | LineCodec, nick: str, address: str = REMOTE) -> FakeClient:
    client = FakeClient(hub, codec, address)
    assert hub.refusal(hub.budget(address)) is None
    hub.connect(client, nick)
    return client


def kinds(client: FakeClient) -> list[str]:
    return [frame["type"] for frame in client.frames()]


class Timers:
    """``later`` for tests: schedules on a clock of its own that moves only when ``advance`` is called."""

    class Handle:
        def __init__(self, timers: Timers, due: float, callback: Callable[[], None]) -> None:
            self.timers, self.due, self.callback = timers, due, callback

        def cancel(self) -> None:
            if self in self.timers.pending:
                self.timers.pending.remove(self)

    def __init__(self) -> None:
        self.now = 0.0
        self.pending: list[Timers.Handle] = []

    def __call__(self, delay: float, callback: Callable[[], None]) -> Timers.Handle:
        handle = Timers.Handle(self, self.now + delay, callback)
        self.pending.append(handle)
        return handle

    def advance(self, seconds: float) -> None:
        """Move the clock on, running what falls due in order."""
        self.now += seconds
        while due := sorted((h for h in self.pending if h.due <= self.now), key=lambda h: h.due):
            due[0].cancel()
            due[0].callback()

"""Per-address limits in the hub, for any gateway: one budget and one connection cap per address,
loopback exempt. (The integration tests can only reach these through X-Forwarded-For on the
WebSocket, since they must stay on loopback; here a telnet client from a public address is faked.)"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from app.bus.memory import InProcessBus
from app.domain.events import Event, Gateway, Kind
from app.domain.flood import FloodPolicy
from app.domain.room import Room
from app.hub import Admission, Hub


class EventCodec:
    def encode(self, event: Event, own: bool) -> Event:
        return event


CODEC = EventCodec()


@dataclass(eq=False)
class FakeClient:
    id: int
    address: str
    gateway: Gateway = Gateway.TELNET
    codec: EventCodec = CODEC
    received: list[Event] = field(default_factory=list)
    closed: str | None = None

    def send(self, chunk: Event) -> None:
        self.received.append(chunk)

    def close(self, reason: str, notice: object) -> None:
        self.closed = reason

    def said(self) -> list[str]:
        return [e.text for e in self.received if e.kind is Kind.MESSAGE and e.origin == self.id]

    def refusals(self) -> int:
        return sum(e.code == "rate_limited" for e in self.received)


def make_hub(**admission: int) -> Hub:
    bus = InProcessBus()
    hub = Hub(Room(), bus, FloodPolicy(burst=3, rate=0.5, kick_after=100), Admission(**admission), clock=lambda: 0.0)
    asyncio.run(bus.start(hub.deliver))
    return hub


def join(hub: Hub, address: str) -> FakeClient:
    assert hub.refusal(address) is None
    client = FakeClient(hub.next_id(), address)
    hub.connect(client)  # type: ignore[arg-type]
    return client


def test_connections_from_one_address_share_one_budget() -> None:
    hub = make_hub()
    first, second = join(hub, "203.0.113.5"), join(hub, "203.0.113.5")
    other = join(hub, "198.51.100.1")
    for text in ("a", "b"):
        hub.receive(first, text)  # type: ignore[arg-type]
    for text in ("c", "d"):
        hub.receive(second, text)  # type: ignore[arg-type]
    hub.receive(other, "e")  # type: ignore[arg-type]
    assert first.said() + second.said() == ["a", "b", "c"]
    assert second.refusals() == 1
    assert other.said() == ["e"]


def test_loopback_connections_each_have_their_own_budget() -> None:
    hub = make_hub()
    for address in ("127.0.0.1", "::1"):
        first, second = join(hub, address), join(hub, address)
        for text in ("a", "b", "c"):
            hub.receive(first, text)  # type: ignore[arg-type]
            hub.receive(second, text)  # type: ignore[arg-type]
        assert first.said() == second.said() == ["a", "b", "c"]
        assert first.refusals() == second.refusals() == 0


def test_connections_per_address_are_capped_and_loopback_is_not() -> None:
    hub = make_hub(max_per_address=2)
    kept = [join(hub, "203.0.113.5"), join(hub, "203.0.113.5")]
    assert hub.refusal("203.0.113.5") == "too many connections from your address (limit 2)"
    assert hub.refusal("198.51.100.1") is None
    for _ in range(3):
        join(hub, "127.0.0.1")
    hub.disconnect(kept[0])  # type: ignore[arg-type]
    assert hub.refusal("203.0.113.5") is None


def test_the_address_budget_survives_reconnecting() -> None:
    hub = make_hub()
    first = join(hub, "203.0.113.5")
    keeper = join(hub, "203.0.113.5")
    for text in ("a", "b", "c"):
        hub.receive(first, text)  # type: ignore[arg-type]
    hub.disconnect(first)  # type: ignore[arg-type]
    again = join(hub, "203.0.113.5")  # a new connection does not refill the address's bucket
    hub.receive(again, "d")  # type: ignore[arg-type]
    assert again.refusals() == 1
    assert keeper.said() == []

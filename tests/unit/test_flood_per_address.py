"""Per-address limits in the hub, for any gateway: one budget and one connection cap per address,
loopback exempt. (The integration tests can only reach these through X-Forwarded-For on the
WebSocket, since they must stay on loopback; here a telnet client from a public address is faked.)"""

from __future__ import annotations

from hubfakes import FakeClient, JsonCodec, make_hub

from app.domain.flood import FloodPolicy
from app.domain.goodbye import Goodbye, Refusal
from app.hub.core import Admission, Hub


class Client(FakeClient):
    def said(self) -> list[str]:
        return [f["text"] for f in self.frames() if f["type"] == "message" and f.get("self")]

    def refusals(self) -> int:
        return sum(f.get("code") == "rate_limited" for f in self.frames())


CODEC = JsonCodec()
HUB_SETTINGS = {"flood": FloodPolicy(burst=3, rate=0.5, kick_after=100, paste_lines=0), "clock": lambda: 0.0}


def make(**admission: int) -> Hub:
    return make_hub(admission=Admission(**admission), **HUB_SETTINGS)


def join(hub: Hub, address: str) -> Client:
    assert hub.refusal(hub.budget(address)) is None
    client = Client(hub, CODEC, address)
    hub.connect(client)
    return client


def test_connections_from_one_address_share_one_budget() -> None:
    hub = make()
    first, second = join(hub, "203.0.113.5"), join(hub, "203.0.113.5")
    other = join(hub, "198.51.100.1")
    for text in ("a", "b"):
        hub.receive(first, text)
    for text in ("c", "d"):
        hub.receive(second, text)
    hub.receive(other, "e")
    assert first.said() + second.said() == ["a", "b", "c"]
    assert second.refusals() == 1
    assert other.said() == ["e"]


def test_loopback_connections_each_have_their_own_budget() -> None:
    hub = make()
    for address in ("127.0.0.1", "::1"):
        first, second = join(hub, address), join(hub, address)
        for text in ("a", "b", "c"):
            hub.receive(first, text)
            hub.receive(second, text)
        assert first.said() == second.said() == ["a", "b", "c"]
        assert first.refusals() == second.refusals() == 0


def test_connections_per_address_are_capped_and_loopback_is_not() -> None:
    hub = make(max_per_address=2)
    kept = [join(hub, "203.0.113.5"), join(hub, "203.0.113.5")]
    assert hub.refusal(hub.budget("203.0.113.5")) == Refusal(Goodbye.ADDRESS_LIMIT, "limit 2")
    assert hub.refusal(hub.budget("198.51.100.1")) is None
    for _ in range(3):
        join(hub, "127.0.0.1")
    hub.disconnect(kept[0])
    assert hub.refusal(hub.budget("203.0.113.5")) is None


def test_the_address_budget_survives_reconnecting() -> None:
    hub = make()
    first = join(hub, "203.0.113.5")
    keeper = join(hub, "203.0.113.5")
    for text in ("a", "b", "c"):
        hub.receive(first, text)
    hub.disconnect(first)
    again = join(hub, "203.0.113.5")  # a new connection does not refill the address's bucket
    hub.receive(again, "d")
    assert again.refusals() == 1
    assert keeper.said() == []

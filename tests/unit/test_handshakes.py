"""The pool of unfinished handshakes every door admits through: caps in total, per door and per
address, deadlines to start and finish, and the idlest, oldest handshake shed for a newcomer."""

from __future__ import annotations

from hubfakes import Timers

from app.domain.events import Gateway
from app.hub.handshakes import Ending, Handshake, HandshakeLimits, Handshakes, Stage

FINISH = 10.0


class Pool:
    """A pool on a test clock, recording what it cut and why."""

    def __init__(self, **limits: object) -> None:
        self.timers = Timers()
        self.handshakes = Handshakes(HandshakeLimits(**limits), self.timers)  # type: ignore[arg-type]
        self.cut: list[tuple[str, Ending]] = []

    def start(self, name: str, peer: str, door: Gateway = Gateway.TLS, **options: object) -> Handshake:
        return self.handshakes.start(door, peer, FINISH, lambda ending: self.cut.append((name, ending)), **options)  # type: ignore[arg-type]


def test_past_the_per_address_cap_the_addresss_own_idlest_oldest_goes_not_the_newcomer() -> None:
    pool = Pool(per_address=3)
    first, second, third = (pool.start(name, "203.0.113.5") for name in ("first", "second", "third"))
    first.progressed()  # under way: idle ones go first
    other = pool.start("other", "198.51.100.9")
    pool.start("fourth", "203.0.113.5")
    assert pool.cut == [("second", Ending.CROWDED_OUT)]
    assert pool.handshakes.count("203.0.113.5") == 3 and len(pool.handshakes) == 4
    second.abandoned()  # the door hears of the close afterwards: nothing more happens
    assert len(pool.handshakes) == 4 and other.stage is third.stage is Stage.SILENT


def test_an_ipv6_64_is_one_address() -> None:
    pool = Pool(per_address=2)
    pool.start("a", "2001:db8:1:2::a")
    pool.start("b", "2001:db8:1:2:ffff::1")
    pool.start("c", "2001:db8:1:2::c")
    pool.start("elsewhere", "2001:db8:1:3::a")
    assert pool.cut == [("a", Ending.CROWDED_OUT)]
    assert pool.handshakes.count("2001:db8:1:2::/64") == 2


def test_past_the_total_the_idlest_oldest_of_all_goes_and_the_newest_always_gets_in() -> None:
    pool = Pool(total=3)
    honest = pool.start("honest", "192.0.2.1")
    honest.progressed()
    for n in range(10):
        pool.start(f"flood{n}", f"203.0.113.{n}")
    assert [name for name, _ in pool.cut] == [f"flood{n}" for n in range(8)]
    assert len(pool.handshakes) == 3 and pool.handshakes.ended[Ending.CROWDED_OUT] == 8
    honest.finished()
    assert len(pool.handshakes) == 2


def test_a_door_cap_sheds_within_that_door_only() -> None:
    pool = Pool(per_door={Gateway.SSH: 2})
    pool.start("web", "192.0.2.1", Gateway.WEB)
    for n in range(4):
        pool.start(f"ssh{n}", f"203.0.113.{n}", Gateway.SSH)
    assert pool.cut == [("ssh0", Ending.CROWDED_OUT), ("ssh1", Ending.CROWDED_OUT)]


def test_a_proxy_or_loopback_peer_is_capped_too_at_half_the_pool() -> None:
    pool = Pool(total=20, per_address=2)
    for n in range(12):
        pool.start(f"via proxy {n}", "10.0.0.1", exempt=True)
    pool.start("someone", "203.0.113.5")
    assert [name for name, _ in pool.cut] == ["via proxy 0", "via proxy 1"]
    assert pool.handshakes.count("10.0.0.1") == 10 and len(pool.handshakes) == 11


def test_first_bytes_are_due_at_the_start_deadline_and_the_end_at_the_finish() -> None:
    pool = Pool(start=3.0)
    pool.start("silent", "192.0.2.1")
    talking = pool.start("talking", "192.0.2.2")
    slow = pool.start("slow", "192.0.2.3")
    talking.progressed()
    slow.progressed()
    pool.timers.advance(2.9)
    assert pool.cut == []
    pool.timers.advance(0.2)
    assert pool.cut == [("silent", Ending.SILENT)]
    talking.finished()
    pool.timers.advance(FINISH)
    assert pool.cut == [("silent", Ending.SILENT), ("slow", Ending.TOO_SLOW)]
    assert len(pool.handshakes) == 0 and pool.timers.pending == []


def test_a_door_that_is_not_told_of_bytes_is_asked_at_the_start_deadline() -> None:
    pool = Pool(start=1.0)
    versions = {"spoke": True, "mute": False}
    for name, spoke in versions.items():
        pool.start(name, "192.0.2.1", Gateway.SSH, heard=lambda spoke=spoke: spoke)
    pool.timers.advance(1.5)
    assert pool.cut == [("mute", Ending.SILENT)]
    pool.timers.advance(FINISH)
    assert pool.cut == [("mute", Ending.SILENT), ("spoke", Ending.TOO_SLOW)]


def test_before_shedding_an_idle_one_a_door_not_told_of_bytes_is_asked() -> None:
    pool = Pool(per_door={Gateway.SSH: 2})
    spoke = pool.start("spoke", "192.0.2.1", Gateway.SSH, heard=lambda: True)
    pool.start("mute", "192.0.2.2", Gateway.SSH, heard=lambda: False)
    pool.start("new", "192.0.2.3", Gateway.SSH, heard=lambda: False)
    assert pool.cut == [("mute", Ending.CROWDED_OUT)] and spoke.stage is Stage.UNDER_WAY

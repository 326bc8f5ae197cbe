"""Slow readers are judged by rate over time: a stuck one is dropped in seconds, one that makes
progress gets longer, one that catches up is forgiven; and the room waits for most readers."""

from __future__ import annotations

from collections.abc import Callable

from hubfakes import Clock

from app.delivery.laggards import TURN_INPUT, Laggards, OutboxLimits

LIMITS = OutboxLimits(max_bytes=1000, stalled_after=3.0, behind_for=15.0)


class FakeOutbox:
    def __init__(self) -> None:
        self.dropped = False

    def too_slow(self) -> None:
        self.dropped = True


class Sender:
    def __init__(self, id: int) -> None:
        self.id = id
        self.paused = False

    def pause_input(self) -> None:
        self.paused = True

    def resume_input(self) -> None:
        self.paused = False


class Looks:
    """Plays the timer: ``run`` calls the scheduled look."""

    def __init__(self) -> None:
        self.scheduled: list[Callable[[], None]] = []

    def __call__(self, delay: float, look: Callable[[], None]) -> None:
        self.scheduled.append(look)

    def run(self) -> None:
        looks, self.scheduled = self.scheduled, []
        for look in looks:
            look()


def setup(population: int = 10) -> tuple[Laggards, Clock, Looks]:
    clock, looks = Clock(), Looks()
    laggards = Laggards(LIMITS, clock=clock, later=looks)
    laggards.population = lambda: population
    return laggards, clock, looks


def test_a_reader_that_takes_nothing_is_dropped_after_the_stall_time() -> None:
    laggards, clock, looks = setup()
    stuck = FakeOutbox()
    laggards.fell_behind(stuck)
    clock.now = 2.9
    looks.run()
    assert not stuck.dropped
    clock.now = 3.1
    looks.run()
    assert stuck.dropped
    assert len(laggards) == 0 and looks.scheduled == []


def test_a_reader_making_progress_gets_the_longer_allowance_then_is_dropped() -> None:
    laggards, clock, looks = setup()
    slow = FakeOutbox()
    laggards.fell_behind(slow)
    for second in range(1, 15):
        clock.now = float(second)
        laggards.progressed(slow)
        looks.run()
        assert not slow.dropped, f"dropped at {second} s though it was reading"
    clock.now = 15.5
    laggards.progressed(slow)
    looks.run()
    assert slow.dropped, "behind for longer than the allowance without once catching up"


def test_catching_up_once_starts_the_judgement_over() -> None:
    laggards, clock, looks = setup()
    reader = FakeOutbox()
    laggards.fell_behind(reader)
    clock.now = 2.0
    laggards.caught_up(reader)
    laggards.fell_behind(reader)
    clock.now = 4.5
    looks.run()
    assert not reader.dropped


def test_senders_are_held_while_most_clients_are_behind_and_released_when_they_catch_up() -> None:
    laggards, _, _ = setup(population=5)
    behind = [FakeOutbox() for _ in range(3)]
    sender = Sender(1)
    laggards.fell_behind(behind[0])
    laggards.fell_behind(behind[1])
    laggards.hold(sender, 10)
    assert not sender.paused, "two of five behind: a minority does not slow the room"
    laggards.fell_behind(behind[2])
    laggards.hold(sender, 10)
    assert sender.paused
    laggards.caught_up(behind[2])
    assert not sender.paused


def test_a_turn_that_took_in_enough_holds_senders_until_it_is_over() -> None:
    laggards, _, looks = setup()
    sender = Sender(1)
    laggards.hold(sender, TURN_INPUT)
    assert not sender.paused
    laggards.hold(sender, 1)
    assert sender.paused
    looks.run()  # the end of the turn
    assert not sender.paused
    laggards.hold(sender, 1)
    assert not sender.paused, "a new turn starts with a new budget"

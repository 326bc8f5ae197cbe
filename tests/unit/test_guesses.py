"""Guess limits as rules: whom an attempt counts against, the growing waits, the counts kept in
one process; and a registration's tokens and remembered addresses."""

from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from app.bus.moderation import LocalGuesses
from app.domain.guesses import Door, GuessPolicy, limits
from app.domain.identity import MAX_TOKENS, DeviceToken, Registration

POLICY = GuessPolicy(free=3, delay=10.0, max_delay=80.0, nick_free=20, remember_days=30.0)


def test_past_the_free_attempts_each_wait_doubles_up_to_the_longest() -> None:
    assert [POLICY.wait_after(n, 3) for n in range(1, 9)] == [0, 0, 10, 20, 40, 80, 80, 80]
    assert POLICY.schedule(3) == (0, 0, 10, 20, 40, 80)
    assert GuessPolicy(free=2, delay=0.0).schedule(2) == (0, 0)  # no delay: never waits


@pytest.mark.parametrize(
    ("door", "address", "remembered", "expected"),
    [
        # an exempt peer (loopback, a trusted proxy) is many people: only its connection is slowed
        (Door.OPER, None, False, [("conn:7", 3, False)]),
        (Door.OPER, "203.0.113.9", False, [("conn:7", 3, False), ("oper:203.0.113.9", 3, True)]),
        (
            Door.IDENTIFY,
            "203.0.113.9",
            False,
            [("conn:7", 3, False), ("identify:ann:203.0.113.9", 3, True), ("identify:ann", 20, True)],
        ),
        # the owner's own address skips the nick's count, which strangers share
        (Door.IDENTIFY, "203.0.113.9", True, [("conn:7", 3, False), ("identify:ann:203.0.113.9", 3, True)]),
        (Door.IDENTIFY, None, False, [("conn:7", 3, False), ("identify:ann", 20, True)]),
    ],
)
def test_an_attempt_counts_against_its_connection_its_address_and_a_nick(
    door: Door, address: str | None, remembered: bool, expected: list[tuple[str, int, bool]]
) -> None:
    counts = limits(door, "7", address, "ann", remembered, POLICY)
    assert [(c.key, c.free, c.shared) for c in counts] == expected
    assert [c.forgiven for c in counts] == [c.key != "identify:ann" for c in counts]  # a nick's is never cleared


def test_a_burst_is_counted_before_any_check_and_only_the_free_attempts_pass() -> None:
    guesses = LocalGuesses()
    waits = POLICY.schedule(3)

    async def burst() -> list[float]:
        return list(await asyncio.gather(*(guesses.attempt("k", 100.0, waits, 80.0) for _ in range(20))))

    answered = asyncio.run(burst())
    assert answered[:3] == [0, 0, 0] and answered[3:] == [10.0] * 17
    assert asyncio.run(guesses.attempt("other", 100.0, waits, 80.0)) == 0  # another key is not held back
    assert asyncio.run(guesses.attempt("k", 110.0, waits, 80.0)) == 0  # its wait is over: one more, then 20s
    assert asyncio.run(guesses.attempt("k", 111.0, waits, 80.0)) == 19.0
    assert asyncio.run(guesses.attempt("k", 110.0 + 20 + 80, waits, 80.0)) == 0  # quiet long enough: forgotten
    assert guesses.counts["k"].attempts == 1


def test_counts_kept_in_one_process_stay_bounded() -> None:
    guesses = LocalGuesses(kept=10)
    for n in range(25):
        asyncio.run(guesses.attempt(f"k{n}", 0.0, (0.0,), 60.0))
    assert len(guesses.counts) <= 10 and "k24" in guesses.counts


def test_each_device_has_a_token_of_its_own_up_to_a_bound() -> None:
    registration = Registration("ann", "ann", "scrypt$...")
    for n in range(MAX_TOKENS + 2):
        registration, token = registration.with_token(f"{n:02d}digest", float(n))
    assert len(registration.tokens) == MAX_TOKENS and token.id == "11dige" and token.key == "ann 11dige"
    assert registration.tokens[0].id == "02dige"  # the ones unused the longest went
    registration = registration.token_used(registration.tokens[0], 99.0)
    registration, _ = registration.with_token("newest", 100.0)
    ids = [t.id for t in registration.tokens]
    assert "02dige" in ids and "03dige" not in ids and ids[-1] == "newest"
    assert "02dige" not in [t.id for t in registration.without_tokens(frozenset({"02dige"})).tokens]
    assert registration.without_tokens().tokens == ()
    stored = Registration.read(registration.stored())  # the tokens are kept in records of their own
    assert stored == replace(registration, tokens=()) and "digest" not in registration.stored()
    assert DeviceToken.read(registration.tokens[0].record()) == registration.tokens[0]


def test_a_record_from_before_devices_had_tokens_keeps_its_token() -> None:
    old = '{"nick":"ann","mask":"ann","password":null,"fingerprints":["SHA256:x"],"token":"abcdef0123",'
    old += '"registered":5.0,"last_used":7.0}'
    registration = Registration.read(old)
    assert registration.tokens == (DeviceToken("ann", "abcdef", "abcdef0123", 5.0, 7.0),)
    assert registration.fingerprints == ("SHA256:x",) and registration.proved_from == ()


def test_the_addresses_its_owner_proved_it_from_are_remembered_for_a_while() -> None:
    registration = Registration("ann", "ann").used(100.0, "192.0.2.1").used(200.0, None).used(300.0, "192.0.2.2")
    assert registration.proven_from("192.0.2.1", since=50.0) and not registration.proven_from("192.0.2.1", 150.0)
    assert not registration.proven_from(None, 0.0)  # an exempt peer is many people
    later = registration.used(400.0, "192.0.2.3", since=150.0)
    assert later.proved_from == (("192.0.2.2", 300.0), ("192.0.2.3", 400.0))
    many = Registration("ann", "ann")
    for n in range(30):
        many = many.used(float(n), f"10.0.0.{n}")
    assert len(many.proved_from) == 10 and many.proved_from[-1] == ("10.0.0.29", 29.0)


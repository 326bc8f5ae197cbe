"""Flood control, driven by an explicit clock: burst, refill, shared address budgets, kicks."""

from __future__ import annotations

from app.domain.flood import FloodControl, FloodPolicy, Verdict

ALLOW, REFUSE, KICK = Verdict.ALLOW, Verdict.REFUSE, Verdict.KICK
ADDRESS = "203.0.113.7"


def control(
    burst: int = 3, rate: float = 2.0, kick_after: int = 100, kick_window: float = 60.0, paste_lines: int = 0
) -> FloodControl:
    """Without a paste allowance unless asked: these tests are about the buckets themselves."""
    policy = FloodPolicy(
        burst=burst, rate=rate, kick_after=kick_after, kick_window=kick_window, paste_lines=paste_lines
    )
    return FloodControl(policy)


def checks(flood: FloodControl, conn: int, address: str | None, now: float, count: int) -> list[Verdict]:
    return [flood.check(conn, address, now) for _ in range(count)]


def test_burst_then_refused_until_tokens_refill() -> None:
    flood = control(burst=3, rate=2.0)
    flood.open(1, ADDRESS, now=0.0)
    assert checks(flood, 1, ADDRESS, 0.0, 4) == [ALLOW, ALLOW, ALLOW, REFUSE]
    assert flood.check(1, ADDRESS, 0.4) is REFUSE  # 0.8 of a token
    assert flood.check(1, ADDRESS, 0.5) is ALLOW  # one token at 2 per second
    assert flood.check(1, ADDRESS, 0.5) is REFUSE
    assert checks(flood, 1, ADDRESS, 1.5, 3) == [ALLOW, ALLOW, REFUSE]  # refilled 2 in one second


def test_refill_never_exceeds_burst() -> None:
    flood = control(burst=3, rate=2.0)
    flood.open(1, None, now=0.0)
    assert checks(flood, 1, None, 1000.0, 4) == [ALLOW, ALLOW, ALLOW, REFUSE]


def test_connections_from_one_address_share_a_budget() -> None:
    flood = control(burst=3)
    flood.open(1, ADDRESS, now=0.0)
    flood.open(2, ADDRESS, now=0.0)
    assert checks(flood, 1, ADDRESS, 0.0, 2) == [ALLOW, ALLOW]
    assert checks(flood, 2, ADDRESS, 0.0, 2) == [ALLOW, REFUSE]
    assert flood.check(1, ADDRESS, 0.0) is REFUSE


def test_shared_budget_survives_while_any_connection_remains() -> None:
    flood = control(burst=2)
    flood.open(1, ADDRESS, now=0.0)
    flood.open(2, ADDRESS, now=0.0)
    assert checks(flood, 1, ADDRESS, 0.0, 2) == [ALLOW, ALLOW]
    flood.close(1, ADDRESS)
    flood.open(3, ADDRESS, now=0.0)  # reconnecting does not buy a fresh budget
    assert flood.check(3, ADDRESS, 0.0) is REFUSE


def test_different_addresses_have_separate_budgets() -> None:
    flood = control(burst=2)
    flood.open(1, ADDRESS, now=0.0)
    flood.open(2, "198.51.100.1", now=0.0)
    assert checks(flood, 1, ADDRESS, 0.0, 3) == [ALLOW, ALLOW, REFUSE]
    assert checks(flood, 2, "198.51.100.1", 0.0, 2) == [ALLOW, ALLOW]


def test_exempt_address_has_only_per_connection_budgets() -> None:
    flood = control(burst=2)
    flood.open(1, None, now=0.0)
    flood.open(2, None, now=0.0)
    assert checks(flood, 1, None, 0.0, 3) == [ALLOW, ALLOW, REFUSE]
    assert checks(flood, 2, None, 0.0, 3) == [ALLOW, ALLOW, REFUSE]


def test_repeated_refusals_within_the_window_kick() -> None:
    flood = control(burst=1, rate=1.0, kick_after=3, kick_window=10.0)
    flood.open(1, None, now=0.0)
    assert checks(flood, 1, None, 0.0, 4) == [ALLOW, REFUSE, REFUSE, KICK]


def test_refusals_outside_the_window_do_not_count() -> None:
    flood = control(burst=1, rate=0.01, kick_after=3, kick_window=10.0)
    flood.open(1, None, now=0.0)
    assert checks(flood, 1, None, 0.0, 3) == [ALLOW, REFUSE, REFUSE]
    assert flood.check(1, None, 20.0) is REFUSE  # the earlier two have expired
    assert flood.check(1, None, 21.0) is REFUSE
    assert flood.check(1, None, 22.0) is KICK


def test_zero_or_negative_rate_disables_flood_control() -> None:
    for rate in (0.0, -1.0):
        flood = control(burst=1, rate=rate, kick_after=1)
        assert not flood.policy.enabled
        flood.open(1, ADDRESS, now=0.0)
        assert set(checks(flood, 1, ADDRESS, 0.0, 100)) == {ALLOW}


def test_closed_connection_is_forgotten() -> None:
    flood = control(burst=1)
    flood.open(1, ADDRESS, now=0.0)
    flood.close(1, ADDRESS)
    flood.close(1, ADDRESS)  # twice is harmless
    flood.open(2, ADDRESS, now=0.0)  # last one gone: the address starts afresh
    assert checks(flood, 2, ADDRESS, 0.0, 2) == [ALLOW, REFUSE]


def test_refused_input_is_always_a_strike_and_only_the_first_answers_are_allowed() -> None:
    flood = control(burst=2, rate=1.0, kick_after=5)
    flood.open(1, None, now=0.0)
    assert [flood.refused(1, None, 0.0) for _ in range(5)] == [ALLOW, ALLOW, REFUSE, REFUSE, KICK]


def test_answers_to_refused_input_come_back_with_the_budget() -> None:
    flood = control(burst=1, rate=1.0, kick_after=100)
    flood.open(1, None, now=0.0)
    assert [flood.refused(1, None, 0.0) for _ in range(3)] == [ALLOW, REFUSE, REFUSE]
    assert flood.refused(1, None, 1.0) is ALLOW  # one answer a second, however much is refused


def test_refused_input_and_lines_too_fast_share_the_strikes() -> None:
    flood = control(burst=1, rate=0.001, kick_after=3)
    flood.open(1, None, now=0.0)
    assert flood.check(1, None, 0.0) is ALLOW
    assert flood.check(1, None, 0.0) is REFUSE  # strike 1
    assert flood.refused(1, None, 0.0) is REFUSE  # strike 2
    assert flood.refused(1, None, 0.0) is KICK


def test_with_the_rate_limit_off_refused_input_is_answered_but_still_cut() -> None:
    flood = control(rate=0, kick_after=3)
    flood.open(1, None, now=0.0)
    assert [flood.refused(1, None, 0.0) for _ in range(3)] == [ALLOW, ALLOW, KICK]
    assert flood.check(2, None, 0.0) is ALLOW


# -- pastes ---------------------------------------------------------------------------------------


def test_a_paste_goes_through_whole_and_borrows_against_the_next_seconds() -> None:
    flood = control(burst=5, rate=2.0, paste_lines=20)
    flood.open(1, ADDRESS, now=0.0)
    assert checks(flood, 1, ADDRESS, 10.0, 20) == [ALLOW] * 20  # twenty lines within milliseconds
    assert flood.check(1, ADDRESS, 11.0) is REFUSE  # the paste spent the next 7.5 s of tokens
    assert flood.check(1, ADDRESS, 18.0) is ALLOW


def test_a_paste_arriving_in_pieces_is_one_paste() -> None:
    flood = control(burst=5, rate=2.0, paste_lines=20)
    flood.open(1, None, now=0.0)
    times = [10.0 + 0.03 * n for n in range(12)]  # TCP segments 30 ms apart
    assert [flood.check(1, None, t) for t in times] == [ALLOW] * 12


def test_a_flood_is_refused_after_the_paste_allowance() -> None:
    flood = control(burst=5, rate=2.0, paste_lines=20)
    flood.open(1, None, now=0.0)
    verdicts = [flood.check(1, None, 10.0 + 0.01 * n) for n in range(60)]  # 100 lines per second
    assert verdicts[:20] == [ALLOW] * 20
    assert set(verdicts[20:]) == {REFUSE}  # still refused: the run never paused


def test_a_paste_over_the_size_allowance_is_cut_there() -> None:
    flood = control(burst=2, rate=2.0, paste_lines=20)
    flood.open(1, None, now=0.0)
    verdicts = [flood.check(1, None, 10.0, size=1000) for _ in range(6)]
    assert verdicts == [ALLOW, ALLOW, ALLOW, ALLOW, REFUSE, REFUSE]  # 4096 characters fit in the paste


def test_pastes_do_not_add_up_across_connections_of_one_address() -> None:
    flood = control(burst=5, rate=2.0, paste_lines=20)
    flood.open(1, ADDRESS, now=0.0)
    flood.open(2, ADDRESS, now=0.0)
    assert checks(flood, 1, ADDRESS, 10.0, 20) == [ALLOW] * 20
    assert checks(flood, 2, ADDRESS, 10.0, 2) == [REFUSE, REFUSE]  # the address's budget is overdrawn


def test_noise_has_an_allowance_of_its_own_and_is_a_strike_beyond_it() -> None:
    flood = control(burst=3, rate=2.0, paste_lines=6, kick_after=5, kick_window=60.0)
    flood.open(1, ADDRESS, now=0.0)
    assert flood.noise(1, 0.0, count=6) is ALLOW  # blank lines: an honest user's Enter key, pressed a few times
    assert flood.noise(1, 0.0) is REFUSE  # one more at once: ignored, a strike
    assert checks(flood, 1, ADDRESS, 0.0, 3) == [ALLOW] * 3  # the lines after it are not the poorer for it


def test_occasional_noise_never_adds_up_to_a_kick() -> None:
    flood = control(burst=3, rate=2.0, kick_after=5, kick_window=60.0)
    flood.open(1, None, now=0.0)
    assert {flood.noise(1, second * 1.0) for second in range(600)} == {ALLOW}  # a keepalive a second


def test_a_stream_of_noise_is_cut_within_one_read() -> None:
    flood = control(burst=3, rate=2.0, kick_after=5, kick_window=60.0)
    flood.open(1, None, now=0.0)
    assert flood.noise(1, 0.0, count=32_768) is KICK  # a read full of IAC NOP: 20 free, 5 strikes


def test_noise_costs_nothing_with_the_rate_limit_off() -> None:
    flood = control(rate=0.0, kick_after=5)
    flood.open(1, None, now=0.0)
    assert flood.noise(1, 0.0, count=1000) is ALLOW

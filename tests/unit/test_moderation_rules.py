"""Moderation rules: durations by their form, what a ban covers, who may act, and guess limits."""

from __future__ import annotations

import pytest

from app.domain.identity import Registration
from app.domain.moderation import (
    NICK_BAN_ADDRESS_HOLD,
    ArgumentError,
    Ban,
    BanKind,
    BanRequest,
    address_ban,
    describe_duration,
    describe_remaining,
    find_ban,
    lifted,
    parse_duration,
)


@pytest.mark.parametrize(
    ("token", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("7d", 604800), ("PERM", None), ("90M", 5400)]
)
def test_durations_are_read_by_their_form(token: str, seconds: float | None) -> None:
    assert parse_duration(token) == seconds


@pytest.mark.parametrize("token", ["0s", "10", "1w", "m", "spamming", "1.5h", "-3m", "9999999d"])
def test_anything_else_is_not_a_duration(token: str) -> None:
    with pytest.raises(ArgumentError, match="is not a duration"):
        parse_duration(token)


def test_a_ban_without_a_duration_is_permanent_and_keeps_its_reason() -> None:
    request = BanRequest.parse("spammo spamming the room")
    assert (request.kind, request.mask, request.duration, request.reason) == (
        BanKind.NICK,
        "spammo",
        None,
        "spamming the room",
    )
    assert BanRequest.parse("Spammo 2h").duration == 7200 and BanRequest.parse("Spammo 2h").mask == "spammo"
    assert BanRequest.parse("203.0.113.9 perm why").mask == "203.0.113.9/32"
    assert BanRequest.parse("2001:db8::/32 1d").mask == "2001:db8::/32"
    assert BanRequest.parse("::ffff:203.0.113.9").mask == "203.0.113.9/32"


def test_address_bans_cover_their_range_and_never_an_exempt_client() -> None:
    ban = BanRequest.parse("203.0.113.0/24 10m").ban("op", now=1000.0)
    bans = {"a": ban}
    assert find_ban(bans, "203.0.113.77", None, 1001.0) is ban
    assert find_ban(bans, "::ffff:203.0.113.77", "ann", 1001.0) is ban
    assert find_ban(bans, "203.0.114.1", None, 1001.0) is None
    assert find_ban(bans, None, None, 1001.0) is None  # loopback, a trusted proxy
    assert find_ban(bans, "203.0.113.77", None, 1600.0) is None  # expired
    assert find_ban(bans, "not an address", None, 1001.0) is None


def test_a_nick_ban_covers_the_nick_by_its_key_and_its_holders_address_for_a_day_at_most() -> None:
    ban = BanRequest.parse("Spammo").ban("op", now=0.0)
    assert find_ban({"n": ban}, None, "SPAMMO", 5.0) is ban
    covering = address_ban("198.51.100.4", "Spammo", ban)
    assert (covering.mask, covering.until, covering.cause) == ("198.51.100.4/32", NICK_BAN_ADDRESS_HOLD, "spammo")
    short = address_ban("198.51.100.4", "Spammo", BanRequest.parse("Spammo 10m").ban("op", now=0.0))
    assert short.until == 600
    bans = {"n": ban, "a": covering, "other": BanRequest.parse("192.0.2.1").ban("op", 0.0)}
    assert sorted(lifted(bans, "spammo")) == ["a", "n"]
    assert lifted(bans, "192.0.2.1") == ["other"]


def test_ban_records_read_back_and_describe_what_is_left() -> None:
    ban = BanRequest.parse("203.0.113.9 2h noisy").ban("op", now=100.0)
    assert Ban.read(ban.record()) == ban
    assert ban.notice(100.0) == "noisy; 2 hours left"
    assert ban.notice(100.0 + 7199) == "noisy; 1 second left"
    assert BanRequest.parse("x").ban("op", 0).notice(0) == "no reason given; permanent"
    assert describe_remaining(5000) == "2 hours" and describe_duration(None) == "permanent"




def test_a_registration_lapses_once_unused_for_its_expiry() -> None:
    registration = Registration("ann", "ann", "scrypt$...", last_used=0.0)
    assert not registration.lapsed(89 * 86400, 90)
    assert registration.lapsed(91 * 86400, 90)
    assert not registration.lapsed(10_000 * 86400, 0)  # 0: never
    assert Registration.read(registration.used(5.0).record()) == registration.used(5.0)

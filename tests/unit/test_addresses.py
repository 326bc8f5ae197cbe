"""Whose address per-address limits count: the socket's own loopback or proxy peer is exempt, an
address a header named never is; the trusted-proxy list reads like uvicorn's setting."""

from __future__ import annotations

import re

import pytest

from app.config import Settings, SettingsError
from app.domain.addresses import Networks, address_key, budget_key
from app.domain.moderation import Ban, BanKind


def test_a_loopback_peer_is_exempt_but_a_header_saying_loopback_is_not() -> None:
    for loopback in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
        assert budget_key(loopback) is None
        assert budget_key(loopback, direct=False) == address_key(loopback)
    assert budget_key("::ffff:127.0.0.1", direct=False) == "127.0.0.1"
    assert budget_key("203.0.113.5") == "203.0.113.5"


def test_a_listed_proxy_peer_is_exempt_only_as_the_socket_peer() -> None:
    proxies = Networks.parse("10.0.0.0/8, 172.16.0.0/12,fdaa::/16")
    for proxy in ("10.1.2.3", "172.19.0.1", "fdaa:0:1::2"):
        assert proxies.lists(proxy)
        assert budget_key(proxy, direct=True, proxy_peer=proxies.lists(proxy)) is None
        assert budget_key(proxy, direct=False) == address_key(proxy)
    assert not proxies.lists("203.0.113.5")
    assert not proxies.lists("not an address")


def test_an_ipv6_budget_is_the_64_and_every_spelling_of_it_is_one() -> None:
    same = ("2001:db8:1:2::a", "2001:DB8:1:2:ffff:ffff:ffff:ffff", "2001:0db8:0001:0002:0000:0000:0000:0001")
    assert {budget_key(address) for address in same} == {"2001:db8:1:2::/64"}
    assert budget_key("2001:db8:1:3::a") == "2001:db8:1:3::/64"  # the next /64 is someone else
    assert budget_key("::ffff:203.0.113.5") == budget_key("203.0.113.5") == "203.0.113.5"
    assert budget_key("203.0.113.6") != budget_key("203.0.113.5")  # IPv4: one address each
    assert address_key("::1") == "::/64"  # loopback too has a unit (handshakes count it), though exempt
    assert address_key("") == ""


def test_a_ban_on_one_ipv6_address_covers_its_64_and_a_network_ban_its_subnets() -> None:
    one = Ban(BanKind.ADDRESS, "2001:db8:1:2::a/128", "2001:db8:1:2::a", "", "op", 0.0, None)
    wide = Ban(BanKind.ADDRESS, "2001:db8::/48", "2001:db8::/48", "", "op", 0.0, None)
    v4 = Ban(BanKind.ADDRESS, "203.0.113.5/32", "203.0.113.5", "", "op", 0.0, None)
    assert one.covers(budget_key("2001:db8:1:2::b"), None)
    assert not one.covers(budget_key("2001:db8:1:3::a"), None)
    assert wide.covers(budget_key("2001:db8:0:ff::1"), None)
    assert v4.covers(budget_key("203.0.113.5"), None) and not v4.covers(budget_key("2001:db8:1:2::a"), None)
    assert not one.covers(budget_key("203.0.113.5"), None)


def test_everyone_trusted_lists_no_proxy() -> None:
    everyone = Networks.parse("*")
    assert everyone.everyone
    assert not everyone.lists("10.0.0.1")
    assert not everyone.lists("127.0.0.1")


def test_a_bad_entry_is_a_settings_error_naming_it() -> None:
    with pytest.raises(SettingsError, match=re.escape("FORWARDED_ALLOW_IPS='10.0.0.0/8,proxy.example'")):
        Settings.from_env({"FORWARDED_ALLOW_IPS": "10.0.0.0/8,proxy.example"})
    with pytest.raises(SettingsError, match="CHAT_METRICS_TOKEN"):
        Settings.from_env({"CHAT_METRICS_ALLOW_IPS": "*"})


def test_the_settings_pass_the_proxy_list_on_as_it_was_given() -> None:
    settings = Settings.from_env({"FORWARDED_ALLOW_IPS": "10.0.0.0/8", "CHAT_TCP_PROXY_PROTOCOL": "1"})
    assert settings.forwarded_allow_ips == "10.0.0.0/8"
    assert settings.trusted_proxies.lists("10.9.9.9")
    assert settings.tcp_proxy_protocol
    assert Settings.from_env({}).trusted_proxies.lists("127.0.0.1")


def test_proxy_protocol_headers_are_believed_from_the_forwarding_proxies_unless_told_otherwise() -> None:
    assert Settings.from_env({"FORWARDED_ALLOW_IPS": "10.0.0.0/8"}).proxy_allow.admits("10.1.1.1")
    assert not Settings.from_env({}).proxy_allow.admits("10.1.1.1")
    assert Settings.from_env({}).proxy_allow.admits("127.0.0.1")
    own = Settings.from_env({"FORWARDED_ALLOW_IPS": "10.0.0.0/8", "CHAT_PROXY_ALLOW_IPS": "fdaa::/16"}).proxy_allow
    assert own.admits("fdaa::3") and not own.admits("10.1.1.1")
    assert Settings.from_env({"CHAT_PROXY_ALLOW_IPS": "*"}).proxy_allow.admits("203.0.113.5")

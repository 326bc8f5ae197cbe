"""Whose connection is this: the address per-address limits count, and which proxies we trust.

A connection speaks for a client address. That address is the socket's own peer, unless a
trusted proxy named another one (``X-Forwarded-For`` on the web port, a PROXY protocol header on
the TCP port). The per-address flood budget and connection cap count that client address, with
one exemption: a *socket peer* that is loopback or a listed proxy speaks for many people (a local
load generator, a platform's proxy without forwarding) and is never counted nor capped. An address
taken from a header is never exempt, whatever it says: a header is only as honest as its sender.

"An address" is an IPv4 address or an IPv6 /64: one IPv6 subscriber gets a whole /64 (RFC 6177)
and picks any address in it, so counting /128s would give each of them 2^64 budgets.
"""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True, slots=True)
class Networks:
    """A list of addresses and networks from a setting, such as ``FORWARDED_ALLOW_IPS`` (the
    proxies whose forwarding headers are believed) or ``CHAT_METRICS_ALLOW_IPS``.

    ``*`` stands for everyone, yet lists no one: believing everyone's headers lets any client
    claim any address, so nobody's own address is exempt for being "the proxy"."""

    networks: tuple[Network, ...] = ()
    everyone: bool = False

    @classmethod
    def parse(cls, spec: str) -> Networks:
        """Comma-separated addresses or CIDR networks, or ``*``; raises ValueError naming a bad entry."""
        entries = [entry.strip() for entry in spec.split(",") if entry.strip()]
        if "*" in entries:
            return cls(everyone=True)
        networks = []
        for entry in entries:
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ValueError(f"{entry!r} is neither an IP address nor a network") from None
        return cls(tuple(networks))

    def lists(self, address: str) -> bool:
        """True when ``address`` is listed, by itself or in a network (never through ``*``)."""
        ip = _ip(address)
        return ip is not None and any(ip in network for network in self.networks)

    def admits(self, address: str) -> bool:
        """True when ``address`` is listed, or the list is ``*``: whose word is taken."""
        return self.everyone or self.lists(address)


def budget_key(address: str, direct: bool = True, proxy_peer: bool = False) -> str | None:
    """The address whose connections share a flood budget and a connection cap; None when exempt.

    ``direct``: ``address`` is the socket's own peer (no header named another one).
    ``proxy_peer``: that peer is a trusted proxy, which speaks for many clients."""
    if direct and (proxy_peer or _is_loopback(address)):
        return None
    return address_key(address)


IPV6_SUBSCRIBER = 64
"""The prefix length one IPv6 user controls: the budget's unit on IPv6."""


@functools.lru_cache(maxsize=4096)
def address_key(address: str) -> str:
    """The budget unit ``address`` belongs to, spelled one way: an IPv4 address as itself (an
    IPv4-mapped IPv6 one too), an IPv6 address as its /64 (``2001:db8:1:2::/64``). Anything that
    is not an IP (a Unix socket's empty peer) is its own unit."""
    ip = _ip(address)
    if ip is None:
        return address
    if ip.version == 4:
        return str(ip)
    return str(ipaddress.IPv6Network((ip, IPV6_SUBSCRIBER), strict=False))


@functools.lru_cache(maxsize=4096)
def _is_loopback(address: str) -> bool:
    ip = _ip(address)
    return ip is not None and ip.is_loopback


def _ip(address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The address as an IP (an IPv4-mapped IPv6 address as its IPv4 self); None if it is none."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None
    mapped = getattr(ip, "ipv4_mapped", None)  # ::ffff:127.0.0.1 on a dual-stack socket
    return mapped or ip

"""The client's address behind trusted proxies (``X-Forwarded-For``), as uvicorn reads it.

uvicorn applies ``FORWARDED_ALLOW_IPS`` to requests that go through the ASGI app; a WebSocket
answered by our own door does not, so the door reads the header by the same rule: believe it
only from a trusted peer, and take the nearest address that is not itself a trusted proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class TrustedProxies:
    """``FORWARDED_ALLOW_IPS``: addresses and networks (``10.0.0.0/8``), or ``*`` for any."""

    def __init__(self, allowed: Iterable[str]) -> None:
        self.any = False
        self.networks: list[Network] = []
        self.names: set[str] = set()  # what is not an address (a unix socket's name, say)
        for entry in allowed:
            if entry == "*":
                self.any = True
                continue
            try:
                self.networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self.names.add(entry)

    def __contains__(self, host: str) -> bool:
        if self.any:
            return True
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return host in self.names
        return any(address in network for network in self.networks)

    def client(self, peer: str, forwarded_for: str | None) -> str:
        """The client's address: ``peer`` itself unless it is a trusted proxy that says more."""
        if not forwarded_for or peer not in self:
            return peer
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        if not hops:
            return peer
        if self.any:
            return hops[0]
        for hop in reversed(hops):  # each proxy appends the address it got the request from
            if hop not in self:
                return hop
        return hops[0]

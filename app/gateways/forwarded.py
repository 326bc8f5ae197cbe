"""The client a trusted proxy names in ``X-Forwarded-For``, read as uvicorn reads it.

uvicorn applies ``FORWARDED_ALLOW_IPS`` to requests that go through the ASGI app; a WebSocket
answered by our own door does not, so the door reads the header by the same rule: believe it
only from a trusted peer, and take the nearest address that is not itself a trusted proxy.
"""

from __future__ import annotations

from app.domain.addresses import Networks


def forwarded_client(proxies: Networks, peer: str, forwarded_for: str | None) -> str | None:
    """The client address the header names, or None when the peer speaks for itself (no
    header, an empty one, or a peer that is not a trusted proxy)."""
    if not forwarded_for or not (proxies.everyone or proxies.lists(peer)):
        return None
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    if not hops:
        return None
    if proxies.everyone:
        return hops[0]
    for hop in reversed(hops):  # each proxy appends the address it got the request from
        if not proxies.lists(hop):
            return hop
    return hops[0]

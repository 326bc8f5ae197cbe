"""The client a trusted proxy names in X-Forwarded-For, read as uvicorn reads it."""

from __future__ import annotations

import pytest

from app.domain.addresses import Networks
from app.gateways.forwarded import forwarded_client


@pytest.mark.parametrize(
    ("allowed", "peer", "header", "client"),
    [
        ("127.0.0.1", "127.0.0.1", "203.0.113.7", "203.0.113.7"),  # a trusted local proxy
        ("127.0.0.1", "198.51.100.1", "203.0.113.7", None),  # anyone else cannot claim an address
        ("127.0.0.1", "127.0.0.1", None, None),
        ("127.0.0.1", "127.0.0.1", " , ", None),
        ("10.0.0.0/8", "10.1.2.3", "203.0.113.7, 10.9.9.9", "203.0.113.7"),  # skip the trusted hops
        ("10.0.0.0/8", "10.1.2.3", "1.1.1.1, 203.0.113.7, 10.9.9.9", "203.0.113.7"),  # not the forgeable left
        ("10.0.0.0/8", "10.1.2.3", "10.5.5.5, 10.9.9.9", "10.5.5.5"),  # all trusted: the first
        ("*", "198.51.100.1", "203.0.113.7, 10.9.9.9", "203.0.113.7"),
        ("::1", "::1", "2001:db8::5", "2001:db8::5"),
    ],
)
def test_the_client_a_trusted_proxy_names(allowed: str, peer: str, header: str | None, client: str | None) -> None:
    assert forwarded_client(Networks.parse(allowed), peer, header) == client

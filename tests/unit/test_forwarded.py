"""The client's address behind trusted proxies, read as uvicorn reads X-Forwarded-For."""

from __future__ import annotations

import pytest

from app.gateways.forwarded import TrustedProxies


@pytest.mark.parametrize(
    ("allowed", "peer", "header", "client"),
    [
        (["127.0.0.1"], "127.0.0.1", "203.0.113.7", "203.0.113.7"),  # a trusted local proxy
        (["127.0.0.1"], "198.51.100.1", "203.0.113.7", "198.51.100.1"),  # anyone else cannot claim an address
        (["127.0.0.1"], "127.0.0.1", None, "127.0.0.1"),
        (["127.0.0.1"], "127.0.0.1", " , ", "127.0.0.1"),
        (["10.0.0.0/8"], "10.1.2.3", "203.0.113.7, 10.9.9.9", "203.0.113.7"),  # skip the trusted hops
        (["10.0.0.0/8"], "10.1.2.3", "1.1.1.1, 203.0.113.7, 10.9.9.9", "203.0.113.7"),  # not the forgeable left
        (["10.0.0.0/8"], "10.1.2.3", "10.5.5.5, 10.9.9.9", "10.5.5.5"),  # all trusted: the first
        (["*"], "198.51.100.1", "203.0.113.7, 10.9.9.9", "203.0.113.7"),
        (["::1"], "::1", "2001:db8::5", "2001:db8::5"),
        (["not-an-address"], "127.0.0.1", "203.0.113.7", "127.0.0.1"),
    ],
)
def test_the_client_address(allowed: list[str], peer: str, header: str | None, client: str) -> None:
    assert TrustedProxies(allowed).client(peer, header) == client

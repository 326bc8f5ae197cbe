"""The TLS door's context: TLS 1.2 or later, and no renegotiation (a handshake outside every cap
and deadline of the handshake pool)."""

from __future__ import annotations

import ssl
from pathlib import Path

from tlsuser import Certificates

from app.gateways.tls import tls_context


def test_the_context_refuses_old_versions_and_renegotiation(tmp_path: Path) -> None:
    certs = Certificates(tmp_path)
    context = tls_context(str(certs.cert_path), str(certs.key_path))
    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.options & ssl.OP_NO_RENEGOTIATION

"""The SSH door's waiting room and host key, without a network."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from app.domain.goodbye import Goodbye
from app.gateways.host_key import HostKeyError, load_host_key
from app.gateways.ssh import HandshakeGate


def test_handshakes_are_capped_in_total_and_per_address() -> None:
    gate = HandshakeGate(total=5, per_address=2)
    assert gate.enter("203.0.113.1") is None
    assert gate.enter("203.0.113.1") is None
    assert gate.enter("203.0.113.1") is Goodbye.ADDRESS_LIMIT
    assert gate.enter("198.51.100.2") is None
    assert gate.enter(None) is None  # a trusted proxy's own address: only the total counts
    assert gate.enter(None) is None
    assert gate.enter("192.0.2.3") is Goodbye.FULL
    gate.leave("203.0.113.1")
    assert gate.enter("203.0.113.1") is None
    assert len(gate) == 5


def test_leaving_forgets_an_address() -> None:
    gate = HandshakeGate(total=5, per_address=2)
    gate.enter("203.0.113.1")
    gate.leave("203.0.113.1")
    assert len(gate) == 0 and not gate.open


def test_a_host_key_is_made_private_then_kept(tmp_path: Path) -> None:
    path = tmp_path / "state" / "host_key"
    made = load_host_key(str(path))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = load_host_key(str(path))
    assert again.get_fingerprint() == made.get_fingerprint()


def test_an_unreadable_host_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "host_key"
    path.write_text("not a key\n")
    with pytest.raises(HostKeyError, match=r"CHAT_SSH_HOST_KEY=.*host_key"):
        load_host_key(str(path))


def test_a_host_key_others_can_read_is_used_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "host_key"
    made = load_host_key(str(path))
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="app.ssh"):
        assert load_host_key(str(path)).get_fingerprint() == made.get_fingerprint()
    assert "chmod 600" in caplog.text

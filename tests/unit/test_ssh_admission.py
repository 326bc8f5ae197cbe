"""The SSH door's host key, without a network (its waiting room is the hub's: tests/unit/test_handshakes.py)."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from app.gateways.host_key import HostKeyError, load_host_key


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

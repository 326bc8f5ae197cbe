"""The SSH door's host key: made once, then kept, so clients never see "host key changed"."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

from app.gateways.ssh_library import asyncssh

log = logging.getLogger("app.ssh")

KEY_TYPE = "ssh-ed25519"
"""Small, fast to sign with, and accepted by every OpenSSH since 6.5."""


class HostKeyError(Exception):
    """The host key file exists but cannot be used; the message says why."""


def load_host_key(path: str) -> asyncssh.SSHKey:
    """The key at ``path``, made there (readable by its owner only) if there is none yet."""
    file = Path(path)
    if not file.exists():
        return _create(file)
    try:
        key = asyncssh.read_private_key(file)
    except (OSError, asyncssh.KeyImportError) as problem:
        raise HostKeyError(f"cannot read the SSH host key CHAT_SSH_HOST_KEY={path}: {problem}") from None
    if file.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("the SSH host key %s can be read by other users of this machine: chmod 600 it", path)
    return key


def _create(file: Path) -> asyncssh.SSHKey:
    key = asyncssh.generate_private_key(KEY_TYPE)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        # Created with its final permissions (O_EXCL: never over a key another process just made).
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(key.export_private_key())
    except FileExistsError:
        return load_host_key(str(file))
    except OSError as problem:
        raise HostKeyError(f"cannot create the SSH host key CHAT_SSH_HOST_KEY={file}: {problem}") from None
    log.info("made a new SSH host key at %s (%s)", file, key.get_fingerprint("sha256"))
    return key

"""The real OpenSSH client in a real terminal (a ``tmux`` pane), typed into as a person would.

Each user gets a tmux server of its own (its own socket), so the screen asserted on is exactly
what that terminal shows, and stopping it touches nothing else on the machine.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

from support import DEFAULT_TIMEOUT, missing


def ssh_binary() -> str:
    return shutil.which("ssh") or missing("the OpenSSH client is not installed (apt install openssh-client)")


def make_key(directory: Path, name: str = "id_ed25519") -> Path:
    """A fresh ed25519 key pair for a test user (never a committed one); returns the private key."""
    keygen = shutil.which("ssh-keygen") or missing("ssh-keygen is not installed (apt install openssh-client)")
    path = directory / name
    subprocess.run([keygen, "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return path


def fingerprint(key: Path) -> str:
    """The SHA256 fingerprint ``ssh-keygen -l`` shows for a key, e.g. ``SHA256:abc…``."""
    out = subprocess.run(["ssh-keygen", "-l", "-f", f"{key}.pub"], check=True, capture_output=True, text=True)
    return out.stdout.split()[1]


def ssh_argv(port: int, user: str, known_hosts: Path, key: Path | None, *extra: str) -> list[str]:
    """``ssh`` to the test server, ignoring the machine's own ssh configuration and keys."""
    argv = [ssh_binary(), "-F", "/dev/null", "-p", str(port), "-o", "StrictHostKeyChecking=accept-new"]
    argv += ["-o", f"UserKnownHostsFile={known_hosts}", "-o", "ConnectTimeout=10"]
    if key is None:
        argv += ["-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=keyboard-interactive"]
    else:
        argv += ["-i", str(key), "-o", "IdentitiesOnly=yes", "-o", "PreferredAuthentications=publickey"]
    return [*argv, *extra, f"{user}@127.0.0.1"]


class SshTerminal:
    """``ssh`` running in a tmux pane of ``width`` x ``height``, with ``term`` as its TERM."""

    def __init__(
        self,
        port: int,
        user: str,
        known_hosts: Path,
        key: Path | None,
        term: str = "xterm-256color",
        width: int = 80,
        height: int = 24,
        wait_for: str | None = "Here now:",
    ) -> None:
        tmux = shutil.which("tmux") or missing("tmux is not installed (apt install tmux)")
        self.tmux = [tmux, "-L", f"chat-test-{uuid.uuid4().hex[:12]}", "-f", "/dev/null"]
        command = " ".join(f"'{part}'" for part in ssh_argv(port, user, known_hosts, key))
        env = {**os.environ, "TERM": "xterm-256color"}
        self._tmux("new-session", "-d", "-s", "chat", "-x", str(width), "-y", str(height), env=env)
        self._tmux("set-option", "-g", "remain-on-exit", "on")
        self._tmux("set-option", "-g", "default-terminal", term)
        self._tmux("respawn-pane", "-k", "-t", "chat", f"TERM={term} exec {command}")
        if wait_for:
            self.wait_for(wait_for)

    def _tmux(self, *args: str, env: dict[str, str] | None = None) -> str:
        result = subprocess.run([*self.tmux, *args], capture_output=True, text=True, env=env, timeout=10)
        if result.returncode != 0:
            raise RuntimeError(f"tmux {args[0]} failed: {result.stderr}")
        return result.stdout

    def type(self, text: str) -> None:
        """Type text, as it is."""
        self._tmux("send-keys", "-t", "chat", "-l", text)

    def press(self, *keys: str) -> None:
        """Press keys by tmux's names for them: ``Enter``, ``Left``, ``BSpace``, ``Up``, ``C-c``."""
        self._tmux("send-keys", "-t", "chat", *keys)

    def say(self, text: str) -> None:
        self.type(text)
        self.press("Enter")

    def screen(self, colours: bool = False) -> list[str]:
        """The rows the terminal shows now (with escape sequences for colours, if asked)."""
        text = self._tmux("capture-pane", "-p", "-t", "chat", *(("-e",) if colours else ()))
        return text.rstrip("\n").split("\n")

    def text(self) -> str:
        return "\n".join(self.screen())

    def wait_for(self, text: str, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
        """Wait until the screen shows ``text``; return the screen."""
        deadline = time.monotonic() + timeout
        while True:
            rows = self.screen()
            if any(text in row for row in rows):
                return rows
            if time.monotonic() > deadline:
                raise TimeoutError(f"the terminal never showed {text!r}; it shows:\n" + "\n".join(rows))
            time.sleep(0.05)

    def resize(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-t", "chat", "-x", str(width), "-y", str(height))

    @property
    def pid(self) -> int:
        """The ssh process's id."""
        return int(self._tmux("display-message", "-p", "-t", "chat", "#{pane_pid}"))

    def exited(self, timeout: float = DEFAULT_TIMEOUT) -> int:
        """Wait for ssh to end; its exit status (minus the signal's number if a signal ended it)."""
        deadline = time.monotonic() + timeout
        while True:
            state = "#{pane_dead}:#{pane_dead_status}:#{pane_dead_signal}"
            dead, status, signal = self._tmux("display-message", "-p", "-t", "chat", state).strip().split(":")
            if dead == "1":
                return int(status) if status else -int(signal or 0)
            if time.monotonic() > deadline:
                raise TimeoutError("ssh is still running; the terminal shows:\n" + self.text())
            time.sleep(0.05)

    def close(self) -> None:
        subprocess.run([*self.tmux, "kill-server"], capture_output=True, timeout=10)

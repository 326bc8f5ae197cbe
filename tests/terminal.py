"""The real ``telnet`` binary in a pseudo-terminal, typed into as a person would."""

from __future__ import annotations

import os
import pty
import select
import shutil
import signal
import subprocess
import termios
import time

from support import DEFAULT_TIMEOUT, missing

ESCAPE = b"\x1d"  # Ctrl-]: telnet's command prompt


class Telnet:
    """``telnet 127.0.0.1 PORT`` on its own pty; ``screen`` is everything it has shown."""

    def __init__(self, port: int, character_mode: bool = False) -> None:
        binary = shutil.which("telnet")
        if binary is None:
            missing("the telnet client is not installed (apt install telnet)")
        self.master, follower = pty.openpty()
        self.process = subprocess.Popen(
            [binary, "127.0.0.1", str(port)], stdin=follower, stdout=follower, stderr=follower, start_new_session=True
        )
        os.close(follower)
        self.screen = ""
        self.wait_for("Here now:")
        if character_mode:
            self.type(ESCAPE)
            self.wait_for("telnet>")
            self.type(b"mode character\r")
            self.wait_for("mode character")

    def type(self, keys: bytes, pause: float = 0.0) -> None:
        """Press keys; with ``pause``, one at a time (as a person types in character mode)."""
        if not pause:
            os.write(self.master, keys)
            return
        for key in keys:
            os.write(self.master, bytes([key]))
            time.sleep(pause)

    def wait_for(self, text: str, timeout: float = DEFAULT_TIMEOUT) -> str:
        """Read the screen until it shows ``text`` after what was already matched; return it all."""
        deadline = time.monotonic() + timeout
        while text not in self.screen:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"telnet never showed {text!r}; screen ends: {self.screen[-400:]!r}")
            ready, _, _ = select.select([self.master], [], [], remaining)
            if ready:
                self.screen += os.read(self.master, 65536).decode(errors="replace")
        shown, _, self.screen = self.screen.partition(text)
        return shown + text

    def echoing(self) -> bool:
        """Whether the terminal shows what is typed (telnet turns this off when the server offers to echo)."""
        return bool(termios.tcgetattr(self.master)[3] & termios.ECHO)

    def wait_echo(self, on: bool, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Wait until telnet has set the terminal's echo as the server asked, as a person would see it happen."""
        deadline = time.monotonic() + timeout
        while self.echoing() != on:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"telnet never turned echo {'on' if on else 'off'}; screen ends: {self.screen[-200:]!r}"
                )
            time.sleep(0.01)

    def close(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(5)
        os.close(self.master)

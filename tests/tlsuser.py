"""TLS test support: certificates made by ``trustme`` (never committed), and the real
``openssl s_client`` as a user of the TLS door."""

from __future__ import annotations

import queue
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import trustme
from support import DEFAULT_TIMEOUT, missing


class Certificates:
    """A throwaway CA, and a server certificate for 127.0.0.1 written where the server reads it."""

    def __init__(self, directory: Path) -> None:
        self.ca = trustme.CA()
        self.ca_path = directory / "ca.pem"
        self.cert_path = directory / "server.pem"
        self.key_path = directory / "server.key"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self.issue("first.chat.test")

    def issue(self, common_name: str) -> None:
        """(Re)write the server's certificate and key, naming the server ``common_name``."""
        cert = self.ca.issue_cert("127.0.0.1", "localhost", common_name=common_name)
        cert.private_key_pem.write_to_path(str(self.key_path))
        self.cert_path.write_bytes(b"".join(blob.bytes() for blob in cert.cert_chain_pems))

    @property
    def env(self) -> dict[str, str]:
        return {"CHAT_TLS_CERT": str(self.cert_path), "CHAT_TLS_KEY": str(self.key_path)}


class OpenSslUser:
    """``openssl s_client`` connected to the TLS door, verifying the server against the test CA;
    its stdin is the keyboard and its stdout the screen."""

    def __init__(self, port: int, ca_path: Path, *options: str) -> None:
        binary = shutil.which("openssl") or missing("openssl is not installed (apt install openssl)")
        argv = [binary, "s_client", "-quiet", "-verify_return_error", "-CAfile", str(ca_path)]
        argv += ["-connect", f"127.0.0.1:{port}", *options]
        self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.stderr = b""
        threading.Thread(target=self._read, daemon=True).start()
        self.nick = self.expect(lambda line: line.startswith("* You are ")).split()[3]

    def _read(self) -> None:
        assert self.process.stdout is not None
        for raw in self.process.stdout:
            self.lines.put(raw.decode(errors="replace").rstrip("\r\n"))
        self.lines.put(None)

    def send(self, line: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(line.encode() + b"\r\n")
        self.process.stdin.flush()

    def expect(self, match: str | Callable[[str], bool], timeout: float = DEFAULT_TIMEOUT) -> str:
        """Read lines until one equals ``match`` (or satisfies it); EOFError once the server closed."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise TimeoutError(f"no matching line within {timeout}s; seen: {self.seen[-10:]}") from None
            if line is None:
                self.lines.put(None)
                raise EOFError(f"the connection ended; seen: {self.seen[-10:]}; openssl said: {self.errors()}")
            self.seen.append(line)
            if match(line) if callable(match) else line == match:
                return line

    def errors(self) -> str:
        if self.process.poll() is not None and self.process.stderr is not None:
            self.stderr += self.process.stderr.read()
        return self.stderr.decode(errors="replace")

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)

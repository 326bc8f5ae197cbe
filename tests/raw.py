"""Low-level clients for robustness tests: a WebSocket spoken by hand over a plain socket (so a
test can stop reading, or send what no polite client would), and views into the kernel and
the server process that a user-level client cannot give.
"""

from __future__ import annotations

import base64
import os
import socket
import struct
import time
from pathlib import Path

TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8
"""Linux ``tcpi_state`` values: reset by the peer, and closed by the peer (FIN received)."""


def tcp_state(sock: socket.socket) -> int:
    """The kernel's state of a TCP socket, read without consuming anything from it."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]


def cut_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True once the server has closed or reset the connection, though we never read from it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if tcp_state(sock) in (TCP_CLOSE, TCP_CLOSE_WAIT):
            return True
        time.sleep(0.05)
    return False


def first_line(sock: socket.socket) -> bytes:
    """The first CRLF-terminated line a TCP server sends (what came before it closed, if none)."""
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0]


def rss_kib(pid: int) -> int:
    """Resident memory of a process, in KiB (VmRSS from /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for process {pid}")


def process_age(pid: int) -> float:
    """Seconds since a process started, from /proc (field 22 of stat is its start, in clock ticks)."""
    start_ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    since_boot = float(Path("/proc/uptime").read_text().split()[0])
    return since_boot - start_ticks / os.sysconf("SC_CLK_TCK")


def client_frame(payload: bytes, opcode: int = 0x1, fin: bool = True, mask: bytes | None = None) -> bytes:
    """One client-to-server frame: masked with ``mask`` (random by default), or unmasked if it is b""."""
    mask = os.urandom(4) if mask is None else mask
    length = len(payload)
    first, mask_bit = (0x80 if fin else 0) | opcode, 0x80 if mask else 0
    if length < 126:
        header = struct.pack("!BB", first, mask_bit | length)
    elif length < 1 << 16:
        header = struct.pack("!BBH", first, mask_bit | 126, length)
    else:
        header = struct.pack("!BBQ", first, mask_bit | 127, length)
    if not mask:
        return header + payload
    return header + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


class RawWebSocket:
    """A WebSocket client written out by hand: handshake, masked frames out, frames in.

    ``rcvbuf`` shrinks the kernel receive buffer, so a client that stops reading pushes back
    on the server almost at once.
    """

    def __init__(
        self,
        port: int,
        path: str = "/ws",
        rcvbuf: int | None = None,
        headers: dict[str, str] | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.sock = socket.socket()
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        key = base64.b64encode(os.urandom(16)).decode()
        extra = "".join(f"{name}: {value}\r\n" for name, value in (headers or {}).items())
        self.sock.sendall(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
            ).encode()
        )
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            data = self.sock.recv(4096)
            if not data:
                raise EOFError(f"closed during the handshake: {self.buffer!r}")
            self.buffer += data
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        self.status = int(head.split()[1])

    def send_frame(self, payload: bytes, opcode: int = 0x1, fin: bool = True) -> None:
        """One client frame (masked, as RFC 6455 requires of clients)."""
        self.sock.sendall(client_frame(payload, opcode, fin))

    def _read(self, count: int) -> bytes:
        while len(self.buffer) < count:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("connection closed")
            self.buffer += data
        chunk, self.buffer = self.buffer[:count], self.buffer[count:]
        return chunk

    def recv_frame(self) -> tuple[int, bytes]:
        """The next server frame as (opcode, payload); EOFError when the connection ends."""
        first, second = self._read(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", self._read(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", self._read(8))
        return first & 0x0F, self._read(length)

    def close_frame(self) -> tuple[int, str] | None:
        """Read to the server's close frame and return (code, reason); None if cut without one."""
        try:
            while True:
                opcode, payload = self.recv_frame()
                if opcode == 0x8:
                    code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                    return code, payload[2:].decode()
        except (EOFError, ConnectionError):
            return None

    def close(self) -> None:
        self.sock.close()

"""Hostile clients: one function per attack, each run flat out for a bounded time, reporting what
it sent, what it got back, and whether (and when) the server cut it.

They are plain blocking sockets in a process of their own, so that the attacker's own work never
slows the honest clients whose latency is measured beside it.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from app.bench import wsframes

TCP_CLOSE, TCP_CLOSE_WAIT = 7, 8
"""Linux ``tcpi_state``: reset by the peer, and closed by the peer (FIN received)."""


@dataclass(slots=True)
class Target:
    host: str
    port: int
    tcp_port: int
    deadline: float  # time.monotonic() at which the attack stops, whatever happened
    scale: int  # the attack's size knob (bytes, frames, connections: see each attack); 0: its default


@dataclass(slots=True)
class Outcome:
    """What one attack saw."""

    sent_bytes: int = 0
    received_bytes: int = 0
    cut_after_s: float | None = None  # None: still connected when the attack ended
    detail: dict[str, object] = field(default_factory=dict)


def _gone(sock: socket.socket) -> bool:
    """True once the server has closed or reset the connection (we need not read to know)."""
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0] in (TCP_CLOSE, TCP_CLOSE_WAIT)


def _connect(host: str, port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(5)
    sock.connect((host, port))
    return sock


def _websocket(target: Target, rcvbuf: int | None = None) -> socket.socket:
    """A WebSocket opened by hand (so it can then misbehave), its response read."""
    return _open_websocket(target, rcvbuf)[0]


def _open_websocket(
    target: Target, rcvbuf: int | None = None, path: str = "/ws", forwarded: str = ""
) -> tuple[socket.socket, bytearray]:
    """A WebSocket opened by hand, and the bytes read past its response head. ``forwarded``: the
    client address an X-Forwarded-For header names (the server trusts loopback as its proxy)."""
    sock = _connect(target.host, target.port, rcvbuf)
    request, _ = wsframes.handshake(target.host, target.port, path)
    if forwarded:
        request = request[:-2] + f"X-Forwarded-For: {forwarded}\r\n\r\n".encode()
    sock.sendall(request)
    head = b""
    while b"\r\n\r\n" not in head:
        data = sock.recv(4096)
        if not data:
            raise ConnectionError("closed during the handshake")
        head += data
    return sock, bytearray(head.partition(b"\r\n\r\n")[2])


def _flood(sock: socket.socket, chunk: bytes, target: Target, outcome: Outcome, limit: int = 0) -> None:
    """Send ``chunk`` again and again (``limit`` bytes at most, 0: no limit) until the deadline
    or until the server cuts the connection; never reads."""
    started = time.monotonic()
    sock.settimeout(0.2)
    view = memoryview(chunk)
    while time.monotonic() < target.deadline and (not limit or outcome.sent_bytes < limit):
        try:
            sent = sock.send(view)
        except TimeoutError:
            sent = 0
        except OSError:
            outcome.cut_after_s = time.monotonic() - started
            return
        outcome.sent_bytes += sent
        view = view[sent:] or memoryview(chunk)
        if not sent and _gone(sock):
            outcome.cut_after_s = time.monotonic() - started
            return
    _wait_for_cut(sock, target, outcome, started)


def _wait_for_cut(sock: socket.socket, target: Target, outcome: Outcome, started: float) -> None:
    while outcome.cut_after_s is None and time.monotonic() < target.deadline:
        if _gone(sock):
            outcome.cut_after_s = time.monotonic() - started
        time.sleep(0.05)


def _drain(sock: socket.socket, outcome: Outcome) -> None:
    """Read what the server has sent so far, without waiting."""
    sock.setblocking(False)
    try:
        while data := sock.recv(1 << 16):
            outcome.received_bytes += len(data)
    except (BlockingIOError, OSError):
        pass


def bad_ws_frames(target: Target) -> Outcome:
    """Malformed JSON text frames, as fast as the socket takes them."""
    outcome = Outcome()
    sock = _websocket(target)
    _flood(sock, wsframes.client_frame(b"{not json") * 1000, target, outcome)
    _drain(sock, outcome)
    return outcome


def telnet_iac(target: Target) -> Outcome:
    """Telnet commands and nothing else, flat out: option negotiation (IAC WILL and IAC DO for every
    option, over and over) and IAC NOP."""
    outcome = Outcome()
    sock = _connect(target.host, target.tcp_port)
    negotiation = b"".join(bytes((0xFF, 0xFB, option, 0xFF, 0xFD, option, 0xFF, 0xF1)) for option in range(256))
    _flood(sock, negotiation * 16, target, outcome)
    _drain(sock, outcome)
    return outcome


def noise(target: Target, door: str, chunk: bytes) -> Outcome:
    """Input that carries nothing, flat out, on ``door`` ("tcp" or "ws"): the server must count it
    as it counts lines, and cut the sender as a flooder."""
    outcome = Outcome()
    sock = _websocket(target) if door == "ws" else _connect(target.host, target.tcp_port)
    _flood(sock, chunk * (65536 // len(chunk)), target, outcome)
    _drain(sock, outcome)
    return outcome


def telnet_nop(target: Target) -> Outcome:
    """``IAC NOP``, the telnet keepalive, and nothing else."""
    return noise(target, "tcp", bytes((0xFF, 0xF1)))


def blank_lines(target: Target) -> Outcome:
    """Empty lines on the TCP door."""
    return noise(target, "tcp", b"\r\n")


def empty_ws_frames(target: Target) -> Outcome:
    """Empty text messages on a WebSocket."""
    return noise(target, "ws", wsframes.client_frame(b""))


def erasing_nothing(target: Target) -> Outcome:
    """Backspaces and Ctrl-U on an empty line on the TCP door: editing keys with nothing to edit."""
    return noise(target, "tcp", b"\x08\x7f\x15")


def endless_line(target: Target) -> Outcome:
    """One line that never ends on the TCP door: refused once as too long, then only dropped."""
    return noise(target, "tcp", b"x")


def long_lines(target: Target) -> Outcome:
    """Lines just over the server's default limit (8 KiB), flat out; replies are read and counted."""
    outcome = Outcome()
    sock = _connect(target.host, target.tcp_port)
    lines = (b"x" * 9000 + b"\r\n") * 8
    sock.settimeout(0.01)
    started, replies = time.monotonic(), 0
    while time.monotonic() < target.deadline and outcome.cut_after_s is None:
        try:
            outcome.sent_bytes += sock.send(lines)
            data = sock.recv(1 << 16)
        except TimeoutError:
            continue
        except OSError:
            data = b""
        if not data:
            outcome.cut_after_s = time.monotonic() - started
        outcome.received_bytes += len(data)
        replies += data.count(b"Line too long")
    outcome.detail["error_replies"] = replies
    return outcome


def huge_headers(target: Target) -> Outcome:
    """One HTTP request whose headers go on for ``scale`` bytes (default 16 MiB)."""
    outcome = Outcome()
    size = target.scale or 16 << 20
    sock = _connect(target.host, target.port)
    sock.sendall(f"GET / HTTP/1.1\r\nHost: {target.host}\r\nX-Pad: ".encode())
    _flood(sock, b"a" * 65536, target, outcome, limit=size)
    if outcome.cut_after_s is None and time.monotonic() < target.deadline:
        with contextlib.suppress(OSError):
            sock.settimeout(max(0.1, target.deadline - time.monotonic()))
            sock.sendall(b"\r\n\r\n")
    outcome.detail["status"] = _status_line(sock, target)
    return outcome


def _status_line(sock: socket.socket, target: Target) -> str:
    sock.setblocking(True)
    sock.settimeout(max(0.1, target.deadline - time.monotonic()))
    try:
        return sock.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
    except OSError as problem:
        return type(problem).__name__


def empty_continuations(target: Target) -> Outcome:
    """A fragmented text message that never ends: ``scale`` empty continuation frames (default
    8 000 000, 6 bytes each)."""
    outcome = Outcome()
    count = target.scale or 8_000_000
    sock = _websocket(target)
    sock.sendall(struct.pack("!BB", 0x01, 0x80) + os.urandom(4))  # text, not final, empty
    _flood(sock, (b"\x00\x80" + os.urandom(4)) * 10_000, target, outcome, limit=6 * count)
    _drain(sock, outcome)
    return outcome


def ping_flood(target: Target) -> Outcome:
    """Pings with the largest payload allowed, flat out, from a client that never reads."""
    outcome = Outcome()
    sock = _websocket(target, rcvbuf=4096)
    _flood(sock, wsframes.client_frame(b"p" * 125, wsframes.OP_PING) * 500, target, outcome)
    return outcome


def slowloris(target: Target) -> Outcome:
    """``scale`` connections (default 300) each sending one byte of an HTTP request head per second."""
    outcome = Outcome()
    started = time.monotonic()
    socks: list[socket.socket] = []
    for _ in range(target.scale or 300):
        try:
            socks.append(_connect(target.host, target.port))
        except OSError:
            break
    outcome.detail["opened"] = len(socks)
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 10_000
    position, cut = 0, 0
    while time.monotonic() < target.deadline and cut < len(socks):
        for sock in socks:
            with contextlib.suppress(OSError):
                outcome.sent_bytes += sock.send(head[position : position + 1])
        position += 1
        second = time.monotonic() + 1
        while time.monotonic() < min(second, target.deadline) and cut < len(socks):
            cut = sum(_gone(sock) for sock in socks)
            time.sleep(0.1)
    outcome.detail["cut"] = cut
    if socks and cut == len(socks):
        outcome.cut_after_s = time.monotonic() - started
    for sock in socks:
        sock.close()
    return outcome


def tls_hello(target: Target) -> Outcome:
    """A TLS ClientHello on the plain TCP port, as a TLS client pointed at the wrong port sends."""
    outcome = Outcome()
    sock = _connect(target.host, target.tcp_port)
    hello = _client_hello()
    sock.sendall(hello)
    outcome.sent_bytes = len(hello)
    started, received = time.monotonic(), b""
    sock.settimeout(max(0.1, target.deadline - time.monotonic()))
    try:
        while data := sock.recv(4096):
            received += data
    except OSError:
        pass
    else:
        outcome.cut_after_s = time.monotonic() - started
    outcome.received_bytes = len(received)
    outcome.detail["reply"] = received.decode(errors="replace").splitlines()[-2:]
    return outcome


def _client_hello() -> bytes:
    """A minimal TLS 1.2 ClientHello record (enough to be recognised as one by anyone)."""
    body = b"\x03\x03" + os.urandom(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00" + b"\x00\x00"
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + len(handshake).to_bytes(2, "big") + handshake


def telnet_subnegotiation(target: Target) -> Outcome:
    """A telnet subnegotiation (IAC SB) that never ends (no IAC SE), with newlines in it."""
    outcome = Outcome()
    sock = _connect(target.host, target.tcp_port)
    sock.sendall(b"\xff\xfa\x18")
    _flood(sock, (b"A" * 200 + b"\r\n") * 300, target, outcome)
    _drain(sock, outcome)
    return outcome


REPLAY_ROOMS = 20
REPLAY_MESSAGES = 100
"""Messages seeded in each room: a room other than the default keeps 100 (``CHAT_ROOM_HISTORY``)."""
LIVE_MARK = b'"code":"live"'
"""What ends one room's replay in a JSON client's stream."""


def replay_loop(target: Target) -> Outcome:
    """``scale`` clients (default 16) from one address reconnecting in a loop, each asking for the
    whole history (``since=0``) of 20 rooms full of long messages. The rooms are filled first, by
    one client per room (run the server with ``CHAT_RATE=0`` so that takes a moment)."""
    outcome = Outcome()
    rooms = [f"replay{n}" for n in range(REPLAY_ROOMS)]
    seeders = [_open_websocket(target, path=f"/ws?nick=seed{n}&rooms={room}")[0] for n, room in enumerate(rooms)]
    say = wsframes.client_frame(json.dumps({"type": "say", "text": "r" * 1700}).encode())
    for sock in seeders:
        sock.sendall(say * REPLAY_MESSAGES)
        outcome.sent_bytes += len(say) * REPLAY_MESSAGES
    time.sleep(1)  # the last of them stored
    for sock in seeders:
        sock.close()
    counts = {"reconnects": 0, "replayed_bytes": 0, "refused": 0, "failed": 0}
    lock = threading.Lock()
    path = f"/ws?rooms={','.join(rooms)}&since=0"

    def loop() -> None:
        while time.monotonic() < target.deadline:
            try:
                got, refused = _replay_once(target, path)
            except OSError:
                got, refused = 0, False
                with lock:
                    counts["failed"] += 1
            with lock:
                counts["reconnects"] += 1
                counts["replayed_bytes"] += got
                counts["refused"] += refused
            if refused:
                time.sleep(0.05)

    threads = [threading.Thread(target=loop) for _ in range(target.scale or 16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    outcome.received_bytes = counts["replayed_bytes"]
    outcome.detail.update(counts)
    return outcome


def _replay_once(target: Target, path: str) -> tuple[int, bool]:
    """One connection: read until every room's replay has ended (or the server closes it). The
    bytes read, and whether the server closed it instead."""
    sock, buffer = _open_websocket(target, path=path, forwarded="198.51.100.7")
    sock.settimeout(max(0.1, target.deadline - time.monotonic()))
    got, ends = len(buffer), 0
    try:
        while True:
            for opcode, payload in wsframes.parse_frames(buffer):
                if opcode == wsframes.OP_CLOSE:
                    return got, True
                ends += payload.count(LIVE_MARK)
            if ends >= REPLAY_ROOMS:
                return got, False
            data = sock.recv(1 << 16)
            if not data:
                return got, True
            got += len(data)
            buffer += data
    except TimeoutError:
        return got, False
    finally:
        sock.close()


ATTACKS: dict[str, Callable[[Target], Outcome]] = {
    "bad-ws-frames": bad_ws_frames,
    "telnet-iac": telnet_iac,
    "telnet-nop": telnet_nop,
    "blank-lines": blank_lines,
    "empty-ws-frames": empty_ws_frames,
    "erasing-nothing": erasing_nothing,
    "endless-line": endless_line,
    "long-lines": long_lines,
    "huge-headers": huge_headers,
    "empty-continuations": empty_continuations,
    "ping-flood": ping_flood,
    "slowloris": slowloris,
    "tls-hello": tls_hello,
    "telnet-subnegotiation": telnet_subnegotiation,
    "replay-loop": replay_loop,
}

"""Handshake floods on the TLS door past the open-file ceiling: every door stays open, and an
honest TLS user logs in during the flood (its login time is printed: run with ``-s`` to see it)."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from support import ServerProcess, free_port
from tlsuser import Certificates, OpenSslUser

CEILING = 256
"""The server's open-file limit (soft and hard): the flood alone is larger."""

FLOOD = 400

BACKLOG = 16
"""The accept queue the server gives a listener under that ceiling (``app.open_files.backlog``)."""

STALLED_HELLO = b"\x16\x03\x01\x02\x00"
"""A TLS record header announcing a 512-byte ClientHello that never comes: the handshake is under way."""


@pytest.fixture
def flood() -> Iterator[list[socket.socket]]:
    sockets: list[socket.socket] = []
    yield sockets
    for sock in sockets:
        sock.close()


def test_stalled_tls_handshakes_past_the_ceiling_leave_every_door_open_and_an_honest_user_gets_in(
    limited: Callable[..., ServerProcess], tmp_path: Path, flood: list[socket.socket]
) -> None:
    certs = Certificates(tmp_path)
    tls_port = free_port()
    # Deadlines far off: only the pool's caps and shedding can keep the server up.
    far_off = {"CHAT_HANDSHAKE_START": "60", "CHAT_HANDSHAKE_FINISH": "60"}
    server = limited(CEILING, CEILING, CHAT_TLS_PORT=str(tls_port), **far_off, **certs.env)
    telnet, web = server.tcp(nick="tina"), server.web(nick="wendy")
    for n in range(FLOOD):
        sock = socket.create_connection(("127.0.0.1", tls_port), timeout=5)
        sock.sendall(STALLED_HELLO)
        flood.append(sock)
        if n % BACKLOG == BACKLOG - 1:
            time.sleep(0.02)  # a moment to accept: a full accept queue would make the kernel drop SYNs for 1 s

    started = time.monotonic()
    alice = OpenSslUser(tls_port, certs.ca_path)  # a real TLS client, verifying the server
    login = time.monotonic() - started
    try:
        alice.send("made it through the flood")
        assert telnet.expect(lambda line: "made it through" in line) == f"[{alice.nick}] made it through the flood"
        assert web.expect(type="message", text="made it through the flood")["nick"] == alice.nick
        late = server.tcp(nick="late")  # the plain door takes newcomers too
        late.send("and me")
        assert alice.expect(lambda line: "and me" in line) == "[late] and me"
        assert server.health()["clients"] == {"web": 1, "telnet": 2, "tls": 1, "total": 4}
        metrics = httpx.get(f"{server.http_url}/metrics", timeout=5).text
    finally:
        alice.close()
    crowded_out = 'chat_handshakes_cut_total{reason="crowded_out"}'
    shed = next(line for line in metrics.splitlines() if line.startswith(crowded_out))
    assert float(shed.split()[-1]) >= FLOOD - CEILING // 8  # all but the pool's share of the ceiling
    assert "Too many open files" not in server.output()
    print(f"\nhonest TLS login during a flood of {FLOOD} stalled handshakes (nofile {CEILING}): {login:.3f} s")

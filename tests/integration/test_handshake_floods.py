"""Handshake floods past the open-file ceiling, on every door: every door stays open, and honest
users log in during the flood (the TLS login time is printed: run with ``-s`` to see it)."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncssh
import httpx
import pytest
from proxyheaders import v1
from support import ServerProcess, free_port
from tlsuser import Certificates, OpenSslUser

CEILING = 256
"""The server's open-file limit (soft and hard): the flood alone is larger."""

FLOOD = 400

BACKLOG = 16
"""The accept queue the server gives a listener under that ceiling (``app.ops.open_files.backlog``)."""

STALLED_HELLO = b"\x16\x03\x01\x02\x00"
"""A TLS record header announcing a 512-byte ClientHello that never comes: the handshake is under way."""


def open_flood(port: int, opening: bytes, into: list[socket.socket]) -> None:
    """``FLOOD`` connections to ``port``, each sending ``opening`` and then nothing more."""
    for n in range(FLOOD):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(opening)
        into.append(sock)
        if n % BACKLOG == BACKLOG - 1:
            time.sleep(0.02)  # a moment to accept: a full accept queue would make the kernel drop SYNs for 1 s


def ssh_user_is_welcomed(port: int) -> str:
    """Log in over SSH with a fresh key and open the chat: the welcome's line naming the user."""

    async def session() -> str:
        async with asyncssh.connect(
            "127.0.0.1",
            port,
            username="sam",
            client_keys=[asyncssh.generate_private_key("ssh-ed25519")],
            known_hosts=None,
        ) as conn:
            process = await conn.create_process(term_type=None)
            while "You are" not in (line := await asyncio.wait_for(process.stdout.readline(), 10)):
                assert line, "the session ended before its welcome"
            return line

    return asyncio.run(session())


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
    open_flood(tls_port, STALLED_HELLO, flood)

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


@pytest.mark.parametrize("door", ["web", "tls", "ssh", "proxy"])
def test_silent_connections_past_the_ceiling_on_any_door_leave_every_door_open(
    door: str, limited: Callable[..., ServerProcess], tmp_path: Path, flood: list[socket.socket]
) -> None:
    certs = Certificates(tmp_path)
    ports = {"tls": free_port(), "ssh": free_port()}
    server = limited(
        CEILING,
        CEILING,
        CHAT_TLS_PORT=str(ports["tls"]),
        CHAT_SSH_PORT=str(ports["ssh"]),
        CHAT_SSH_HOST_KEY=str(tmp_path / "host_key"),
        CHAT_HANDSHAKE_START="60",  # far off: only the pool's caps and shedding keep the server up
        CHAT_TCP_PROXY_PROTOCOL="1" if door == "proxy" else "",
        **certs.env,
    )
    ports |= {"web": server.port, "proxy": server.tcp_port}
    open_flood(ports[door], b"", flood)

    telnet = server.tcp(nick="tina", preamble=v1("203.0.113.5") if door == "proxy" else b"")
    web = server.web(nick="wendy")
    alice = OpenSslUser(ports["tls"], certs.ca_path)
    try:
        assert ssh_user_is_welcomed(ports["ssh"]).startswith("* You are sam")  # login and session
        telnet.send("every door is open")
        assert web.expect(type="message", text="every door is open")["nick"] == "tina"
        assert alice.expect(lambda line: "every door is open" in line) == "[tina] every door is open"
    finally:
        alice.close()
    assert server.health()["status"] == "ok"
    assert "Too many open files" not in server.output()


def test_connections_kept_alive_after_a_request_past_the_ceiling_leave_every_door_open(
    limited: Callable[..., ServerProcess], flood: list[socket.socket]
) -> None:
    server = limited(CEILING, CEILING, CHAT_HANDSHAKE_START="60")  # only the pool's caps can keep the server up
    for n in range(FLOOD):  # each asks one quick question, reads the answer, and keeps the connection
        sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: chat\r\n\r\n")
        assert sock.recv(4096).startswith(b"HTTP/1.1 200"), f"connection {n} was not answered"
        flood.append(sock)
    telnet, web = server.tcp(nick="tina"), server.web(nick="wendy")
    telnet.send("every door is open")
    assert web.expect(type="message", text="every door is open")["nick"] == "tina"
    assert server.health()["status"] == "ok"
    assert "Too many open files" not in server.output()

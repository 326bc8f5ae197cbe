"""The TLS door, with the real ``openssl s_client``: the same room, lines and limits as telnet."""

from __future__ import annotations

import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from support import ServerProcess, free_port
from tlsuser import Certificates, OpenSslUser


@pytest.fixture
def certs(tmp_path: Path) -> Certificates:
    return Certificates(tmp_path)


@pytest.fixture
def tls_server(start_server: Callable[..., ServerProcess], certs: Certificates) -> ServerProcess:
    server = start_server(CHAT_TLS_PORT=str(free_port()), CHAT_TCP_MAX_LINE="100", **certs.env)
    return server


@pytest.fixture
def users() -> Iterator[list[OpenSslUser]]:
    started: list[OpenSslUser] = []
    yield started
    for user in started:
        user.close()


def tls_port(server: ServerProcess) -> int:
    return int(server.env["CHAT_TLS_PORT"])


def test_openssl_user_chats_with_telnet_and_web_users(
    tls_server: ServerProcess, certs: Certificates, users: list[OpenSslUser]
) -> None:
    telnet = tls_server.tcp(nick="tina")
    web = tls_server.web(nick="wendy")
    alice = OpenSslUser(tls_port(tls_server), certs.ca_path)
    users.append(alice)
    assert web.expect(type="join", nick=alice.nick)["gateway"] == "tls"
    alice.send("/nick alice")
    alice.expect(lambda line: line.endswith("is now known as alice"))
    telnet.expect(lambda line: line.endswith("is now known as alice"))

    alice.send("hello over TLS")
    assert telnet.expect(lambda line: "hello over TLS" in line) == "[alice] hello over TLS"
    assert web.expect(type="message", text="hello over TLS")["nick"] == "alice"
    telnet.send("hi alice")
    web.say("hi from the web")
    assert alice.expect("[tina] hi alice")
    assert alice.expect("[wendy] hi from the web")

    alice.send("/who")
    assert "alice (tls)" in alice.expect(lambda line: line.startswith("* 3 here:"))
    assert tls_server.health()["clients"] == {"web": 1, "telnet": 1, "tls": 1, "total": 3}
    assert 'chat_clients{door="tls"} 1.0' in httpx.get(f"{tls_server.http_url}/metrics").text


def test_the_tcp_doors_limits_hold_inside_tls(
    tls_server: ServerProcess, certs: Certificates, users: list[OpenSslUser]
) -> None:
    alice = OpenSslUser(tls_port(tls_server), certs.ca_path)
    users.append(alice)
    alice.send("x" * 150)
    assert alice.expect(lambda line: line.startswith("!")) == "! Line too long: not sent (the limit is 100 bytes)"
    alice.send("still here")  # the connection goes on
    alice.send("/quit")
    alice.expect("* Goodbye!")
    with pytest.raises(EOFError):
        alice.expect("never")


def test_plain_text_on_the_tls_port_is_told_where_the_plain_door_is(tls_server: ServerProcess) -> None:
    with socket.create_connection(("127.0.0.1", tls_port(tls_server)), timeout=5) as sock:
        sock.sendall(b"hello\r\n")
        answer = _read_to_end(sock)
    assert answer.startswith(b"! This port speaks TLS")
    assert f"The plain telnet/netcat door is port {tls_server.tcp_port}.".encode() in answer
    assert answer.count(b"\r\n") == 1


def test_a_client_that_says_nothing_is_told_instead_of_left_hanging(tls_server: ServerProcess) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", tls_port(tls_server)), timeout=10) as sock:
        answer = _read_to_end(sock)
    assert answer.startswith(b"! This port speaks TLS")
    assert 2.5 <= time.monotonic() - started < 9


def test_sighup_serves_a_renewed_certificate_without_dropping_anyone(
    tls_server: ServerProcess, certs: Certificates, users: list[OpenSslUser]
) -> None:
    before = OpenSslUser(tls_port(tls_server), certs.ca_path)
    users.append(before)
    assert _served_name(tls_server, certs) == "first.chat.test"

    certs.issue("renewed.chat.test")
    tls_server.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while _served_name(tls_server, certs) != "renewed.chat.test":
        assert time.monotonic() < deadline, tls_server.output()[-2000:]
        time.sleep(0.1)

    after = OpenSslUser(tls_port(tls_server), certs.ca_path)
    users.append(after)
    before.send("still connected")
    assert after.expect(lambda line: "still connected" in line) == f"[{before.nick}] still connected"
    assert "TLS certificate reloaded" in tls_server.output()


def test_a_broken_certificate_on_sighup_keeps_the_old_one(
    tls_server: ServerProcess, certs: Certificates, users: list[OpenSslUser]
) -> None:
    certs.key_path.write_text("not a key\n")
    tls_server.signal(signal.SIGHUP)
    deadline = time.monotonic() + 5
    while "TLS certificate not reloaded" not in tls_server.output():
        assert time.monotonic() < deadline, tls_server.output()[-2000:]
        time.sleep(0.1)
    assert _served_name(tls_server, certs) == "first.chat.test"
    users.append(OpenSslUser(tls_port(tls_server), certs.ca_path))


def test_a_missing_certificate_stops_start_up_with_one_clear_line(tmp_path: Path, certs: Certificates) -> None:
    server = ServerProcess(tmp_path, {**certs.env, "CHAT_TLS_PORT": str(free_port()), "CHAT_TLS_CERT": "/nowhere.pem"})
    result = subprocess.run(
        [sys.executable, "-m", "app"], env=server.env, cwd=server.cwd, capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "cannot start the TLS door" in result.stderr
    assert "/nowhere.pem" in result.stderr
    assert "Traceback" not in result.stderr


def _served_name(server: ServerProcess, certs: Certificates) -> str:
    """The common name on the certificate a new TLS connection is shown."""
    context = ssl.create_default_context(cafile=str(certs.ca_path))
    with (
        socket.create_connection(("127.0.0.1", tls_port(server)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        subject = dict(item[0] for item in tls.getpeercert()["subject"])
        return subject["commonName"]


def _read_to_end(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_a_tls_health_check_leaves_no_trace_and_a_typist_chats_at_once(
    start_server: Callable[..., ServerProcess], certs: Certificates
) -> None:
    """The TLS door is a line door too: a check that completes the handshake and hangs up is not a
    person; someone who types at once is in at once (the grace here is far longer than the test)."""
    server = start_server(CHAT_TLS_PORT=str(free_port()), CHAT_QUIET_GRACE="60", **certs.env)
    watcher = server.web("watcher")
    context = ssl.create_default_context(cafile=str(certs.ca_path))
    for _ in range(3):  # a load balancer's TLS health check
        with socket.create_connection(("127.0.0.1", tls_port(server)), timeout=5) as raw:
            context.wrap_socket(raw, server_hostname="127.0.0.1").close()
    raw = socket.create_connection(("127.0.0.1", tls_port(server)), timeout=5)
    with context.wrap_socket(raw, server_hostname="127.0.0.1") as typist:
        typist.sendall(b"/nick typist\r\nhello at once\r\n")
        assert watcher.expect(type="message", nick="typist")["text"] == "hello at once"
    guests = [e for e in watcher.events if e.get("type") in ("join", "leave") and e["nick"].startswith("guest")]
    assert [(e["type"], e["gateway"]) for e in guests] == [("join", "tls")]  # the typist's arrival, only

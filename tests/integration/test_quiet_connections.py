"""Quiet connections are not people yet.

A probe that connects and hangs up (``nc -z``, a health check, a scanner) leaves no trace in the
room or its history; an HTTP client on the TCP port gets one refusal line and nothing else; a user
who types at once chats at once, and one who waits is welcomed when the grace ends. (Noise, input
that carries nothing, is in test_robustness_attacks.)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from itertools import count

import pytest
from support import DEFAULT_TIMEOUT, ServerProcess, WebUser, missing

serial = count()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A grace far longer than any test: a connection that has not spoken is never let in by the
    clock here, so whatever shows in the room was let in by what it sent."""
    env = {"CHAT_QUIET_GRACE": "60", "CHAT_CHURN_CALM": "100000"}
    server = ServerProcess(tmp_path_factory.mktemp("quiet"), env).start()
    yield server
    server.stop()


def presence(web: WebUser) -> list[tuple[str, str]]:
    """Every join and leave of others a web client has seen, in order."""
    kinds = ("join", "leave")
    return [(e["type"], e["nick"]) for e in web.events if e.get("type") in kinds and e["nick"] != web.nick]


def guests_in_history(server: ServerProcess) -> set[str]:
    """The guests whose join or leave the room's history holds, as a newcomer resuming from the
    start sees them (every real user in this module picks a nick; a probe would be a guest)."""
    reader = server.web(f"reader{next(serial)}", "since=0")
    reader.silent(0.3)
    reader.close()
    return {nick for _, nick in presence(reader) if nick.startswith("guest")}


def test_probes_that_connect_and_hang_up_leave_no_trace(server: ServerProcess) -> None:
    n = next(serial)
    guests = guests_in_history(server)
    watcher = server.web(f"watcher{n}")
    for _ in range(5):  # a scanner or a health check: connect, and close without a word
        socket.create_connection(("127.0.0.1", server.tcp_port)).close()
    with socket.create_connection(("127.0.0.1", server.tcp_port)) as half_closed:
        half_closed.shutdown(socket.SHUT_WR)  # `nc -N` with nothing to send
        half_closed.settimeout(DEFAULT_TIMEOUT)
        assert half_closed.recv(4096) == b""  # hung up on, without a welcome
    nc = shutil.which("nc")
    if nc is None:
        missing("nc is not installed")
    probe = subprocess.run([nc, "-z", "127.0.0.1", str(server.tcp_port)], timeout=DEFAULT_TIMEOUT)
    assert probe.returncode == 0
    marker = server.web(f"marker{n}")  # someone real, after the probes
    watcher.expect(type="join", nick=marker.nick)
    assert presence(watcher) == [("join", marker.nick)]
    assert guests_in_history(server) == guests


def test_someone_who_types_at_once_chats_at_once(server: ServerProcess) -> None:
    n = next(serial)
    watcher = server.web(f"listener{n}")
    with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=DEFAULT_TIMEOUT) as nc:
        nc.sendall(b"hello before any welcome\r\n")  # long before the grace (a minute) ends
        said = watcher.expect(type="message", text="hello before any welcome")
        assert f"\r\n* You are {said['nick']} ".encode() in nc.recv(4096)  # the welcome came first
    assert presence(watcher)[0] == ("join", said["nick"])  # announced before what they said


@pytest.mark.parametrize(
    ("opening", "answer"),
    [
        (
            b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: curl/8\r\nAccept: */*\r\n\r\n",
            b"! This port speaks plain text lines (telnet, netcat), not HTTP: open the chat page on the web port\r\n",
        ),
        (
            b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13\r\n",  # what `ssh -p 2626` says first
            b"! This port speaks plain text lines (telnet, netcat), not SSH: use the SSH port, or telnet or nc\r\n",
        ),
    ],
    ids=["http", "ssh"],
)
def test_another_protocol_gets_one_refusal_line_and_nothing_else(
    server: ServerProcess, opening: bytes, answer: bytes
) -> None:
    n = next(serial)
    guests = guests_in_history(server)
    watcher = server.web(f"httpwatch{n}")
    server.web(f"talker{n}").say("a line of history another protocol's client must never see")
    watcher.expect(type="message", nick=f"talker{n}")
    with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=DEFAULT_TIMEOUT) as client:
        client.sendall(opening)
        received = b""
        while chunk := client.recv(4096):
            received += chunk
    assert received == answer
    assert watcher.silent(0.3) == []
    assert guests_in_history(server) == guests


def test_a_silent_user_is_welcomed_and_announced_when_the_grace_ends(start_server) -> None:
    server = start_server(CHAT_QUIET_GRACE="0.2")
    watcher = server.web("waiting-room")
    with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=DEFAULT_TIMEOUT) as nc:
        welcome = nc.recv(4096).decode()  # a bare `nc HOST 2626` that says nothing
        assert welcome.startswith("You're connected to the chat server")
        nick = welcome.split("* You are ")[1].split()[0]
        assert watcher.expect(type="join", nick=nick)
        nc.sendall(b"now I talk\r\n")
        assert watcher.expect(type="message")["text"] == "now I talk"


"""The open-file ceiling: the server raises its soft limit to the hard one, and when even that
cannot hold CHAT_MAX_CONNECTIONS it says so at start-up and refuses the excess in words."""

from __future__ import annotations

import resource
import socket
import time

import pytest
from raw import first_line

CLIENTS = 2000


@pytest.fixture(autouse=True)
def enough_files_for_the_test() -> None:
    """The test process holds as many sockets as the server: lift its own soft limit too."""
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard != resource.RLIM_INFINITY and hard < CLIENTS + 200:
        pytest.skip(f"the hard open-file limit ({hard}) is too low for {CLIENTS} clients")
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def connect_all(port: int, count: int, one_by_one: bool = False) -> list[tuple[socket.socket, bytes]]:
    """Open ``count`` TCP connections and read each one's first line (welcome or refusal); with
    ``one_by_one``, each before opening the next (a short accept queue then never overflows)."""
    sockets, answers = [], []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sockets.append(sock)
        if one_by_one:
            answers.append((sock, first_line(sock)))
    return answers or [(sock, first_line(sock)) for sock in sockets]


def test_with_a_soft_limit_of_1024_the_server_raises_it_and_holds_2000_clients(limited) -> None:
    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    server = limited(1024, hard, CHAT_QUIET_GRACE="0")
    answers = connect_all(server.tcp_port, CLIENTS)
    try:
        welcomed = [first for _, first in answers if first.startswith(b"You're connected")]
        assert len(welcomed) == CLIENTS, {first for _, first in answers} - set(welcomed)
        assert server.health()["clients"]["total"] == CLIENTS
        assert f"open files: up to {hard} (hard limit {hard})" in server.output()
        assert "cannot be reached" not in server.output()
    finally:
        for sock, _ in answers:
            sock.close()


def test_when_the_hard_limit_is_too_low_the_excess_is_refused_as_server_full_never_cut(limited) -> None:
    server = limited(1024, 1024, CHAT_QUIET_GRACE="0")
    output = server.output()
    assert "CHAT_MAX_CONNECTIONS=10000 cannot be reached: the open-file limit of 1024 holds" in output
    answers = connect_all(server.tcp_port, 900, one_by_one=True)
    try:
        lines = [first.decode() for _, first in answers]
        welcomed = [line for line in lines if line.startswith("You're connected")]
        refused = [line for line in lines if line == "! Connection refused: server full, try again later"]
        assert len(welcomed) + len(refused) == len(lines), set(lines) - set(welcomed) - set(refused)
        assert 600 <= len(welcomed) < 900 and refused  # the rest of the ceiling: listeners, handshakes
        time.sleep(0.2)
        assert server.health()["clients"]["total"] == len(welcomed)  # and the server still answers
        assert output.count("cannot be reached") == 1
        assert "Too many open files" not in server.output()
    finally:
        for sock, _ in answers:
            sock.close()

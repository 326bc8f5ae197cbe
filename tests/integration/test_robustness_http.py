"""HTTP connections that never become a request: huge heads are refused, slow ones are cut in
seconds (slowloris), and neither holds up an honest user. Against the real server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

from raw import cut_by_peer
from support import ServerProcess

from app.bench.attacks import Outcome, Target, huge_headers, slowloris

HEAD_TIMEOUT = 2.0


def attack_in_background(server: ServerProcess, attack: Callable[[Target], Outcome], seconds: float, scale: int = 0):  # type: ignore[no-untyped-def]
    target = Target("127.0.0.1", server.port, server.tcp_port, time.monotonic() + seconds, scale)
    outcomes: list[Outcome] = []
    thread = threading.Thread(target=lambda: outcomes.append(attack(target)))
    thread.start()
    return thread, outcomes


def honest_pair_chats(server: ServerProcess, n: int) -> None:
    tcp, web = server.tcp(nick=f"plain{n}"), server.web(f"page{n}")
    web.say(f"hello {n}")
    assert tcp.expect(lambda line: line.startswith(f"[page{n}]"), timeout=20) == f"[page{n}] hello {n}"
    tcp.send(f"hi {n}")
    assert web.expect(type="message", nick=f"plain{n}", timeout=20)["text"] == f"hi {n}"
    tcp.close()
    web.close()


def test_a_huge_request_head_is_refused_with_431_and_never_buffered(start_server) -> None:
    server: ServerProcess = start_server()
    thread, outcomes = attack_in_background(server, huge_headers, 10, scale=16 << 20)
    honest_pair_chats(server, 1)
    thread.join(20)
    [outcome] = outcomes
    assert outcome.detail["status"] == "HTTP/1.1 431 Request Header Fields Too Large"
    assert outcome.sent_bytes < 16 << 20  # cut long before the 16 MiB were sent
    assert "Traceback" not in server.output()


def test_a_request_head_at_the_limit_still_gets_the_page(start_server) -> None:
    server: ServerProcess = start_server()
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        padding = "a" * (15 * 1024)
        sock.sendall(f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: {padding}\r\n\r\n".encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 200 ")


def test_slowloris_connections_are_cut_in_seconds_and_an_honest_user_still_gets_in(start_server) -> None:
    server: ServerProcess = start_server(CHAT_HTTP_HEAD_TIMEOUT=str(HEAD_TIMEOUT))
    thread, outcomes = attack_in_background(server, slowloris, 15, scale=100)
    time.sleep(0.5)
    honest_pair_chats(server, 2)  # while a hundred heads trickle in, a byte a second
    thread.join(25)
    [outcome] = outcomes
    assert outcome.detail["opened"] == 100
    assert outcome.detail["cut"] == 100
    assert outcome.cut_after_s is not None and outcome.cut_after_s < HEAD_TIMEOUT + 5
    honest_pair_chats(server, 3)


def test_a_slow_head_gets_408_and_a_connection_that_says_nothing_is_closed(start_server) -> None:
    server: ServerProcess = start_server(CHAT_HTTP_HEAD_TIMEOUT=str(HEAD_TIMEOUT))
    with (
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as slow,
        socket.create_connection(("127.0.0.1", server.port), timeout=10) as silent,
    ):
        slow.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        assert slow.recv(4096).startswith(b"HTTP/1.1 408 Request Timeout")
        assert cut_by_peer(silent, 5)

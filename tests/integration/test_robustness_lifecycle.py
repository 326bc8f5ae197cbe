"""Foreign pages, restarts and health: the WebSocket checks Origin before accepting, SIGTERM
tells everyone before the process exits, and /healthz reports what is really connected."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import time

import httpx
from crowd import Crowd
from raw import RawWebSocket, process_age
from support import ServerProcess, TcpUser

# -- foreign pages -------------------------------------------------------------------------------


def test_a_foreign_origin_is_refused_with_403_before_accept(server: ServerProcess) -> None:
    watcher = server.tcp(nick="watcher")
    foreign = RawWebSocket(server.port, "/ws?nick=intruder", headers={"Origin": "https://evil.example"})
    assert foreign.status == 403
    assert watcher.silent(0.3) == []  # never joined: nobody saw it arrive
    assert server.health()["clients"]["web"] == 0
    assert "refused WebSocket from foreign origin https://evil.example" in server.output()


def test_same_origin_and_configured_origins_are_accepted(start_server) -> None:
    server = start_server(CHAT_ALLOWED_ORIGINS="https://chat.example.org, https://other.example.net/")
    for origin in (f"http://127.0.0.1:{server.port}", "https://chat.example.org", "https://other.example.net"):
        assert server.web(origin=origin).welcome["type"] == "welcome", origin
    assert server.web().welcome["type"] == "welcome"  # no Origin: not a browser, no cross-site risk
    for origin in ("https://chat.example.org.evil.example", "http://127.0.0.1:1", "null"):
        assert RawWebSocket(server.port, headers={"Origin": origin}).status == 403, origin


def test_an_upgrade_to_another_path_or_a_broken_handshake_gets_a_clear_http_error(server: ServerProcess) -> None:
    watcher = server.tcp(nick="watcher")
    elsewhere = RawWebSocket(server.port, "/chat")
    assert elsewhere.status == 404
    body = elsewhere.buffer
    while chunk := elsewhere.sock.recv(4096):  # then the server hangs up
        body += chunk
    assert body == b"Not Found\n"
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    sock.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
    answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 400 ") and b"Sec-WebSocket-Key" in answer, answer
    assert watcher.silent(0.3) == []
    assert server.web("after").welcome["nick"] == "after"


def test_the_page_is_served_with_a_strict_content_security_policy(server: ServerProcess) -> None:
    page = httpx.get(server.http_url + "/", timeout=5)
    policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    assert policy["default-src"] == "'self'"
    assert policy["script-src"] == "'self'"
    assert policy["style-src"] == "'self'"
    assert "unsafe" not in page.headers["content-security-policy"]
    # The policy allows no inline code, so the page must have none.
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) == []
    assert "<style" not in page.text and " style=" not in page.text


# -- restarts ------------------------------------------------------------------------------------


def test_sigterm_tells_every_client_and_exits_within_the_graceful_timeout(start_server) -> None:
    server = start_server(CHAT_GRACEFUL_TIMEOUT="5", CHAT_RATE="0")

    async def scenario() -> tuple[Crowd, int]:
        crowd = Crowd(server.tcp_port, server.ws_url)
        await crowd.join(tcp=20, ws=20)
        server.signal(signal.SIGTERM)
        code = await asyncio.to_thread(server.wait, 5)
        await crowd.farewells()
        return crowd, code

    crowd, code = asyncio.run(scenario())
    assert code == -signal.SIGTERM  # uvicorn re-raises the signal once it has shut down cleanly
    assert all("Disconnected: server restarting" in m.last_line for m in crowd.tcp), [m.last_line for m in crowd.tcp]
    assert [m.close for m in crowd.ws] == [(1012, "server restarting")] * 20
    log = server.output()
    assert "shutting down: closing 40 chat connections" in log
    assert "Finished server process" in log
    assert "Traceback" not in log and "ERROR" not in log


def test_clients_that_stopped_reading_do_not_hold_up_the_exit(start_server) -> None:
    server = start_server(CHAT_GRACEFUL_TIMEOUT="3", CHAT_RATE="0", CHAT_OUTBOX_BYTES="1000000000")
    stuck_web = RawWebSocket(server.port, "/ws?nick=stuckweb", rcvbuf=4096)
    stuck_tcp = TcpUser(server.tcp_port, nick="stucktcp", rcvbuf=4096)
    publisher = server.tcp(nick="publisher")
    publisher.send_raw(b"".join(f"m{n} {'x' * 1900}\r\n".encode() for n in range(3000)))  # ~6 MB each
    publisher.send("/me is done")
    publisher.expect("* [publisher] is done")  # every message has been handed to the stuck ones
    server.signal(signal.SIGTERM)
    assert server.wait(3) == -signal.SIGTERM  # not held up until the graceful timeout runs out
    log = server.output()
    assert "Traceback" not in log and "ERROR" not in log
    stuck_web.close()
    stuck_tcp.close()


def test_ordinary_disconnects_leave_no_traceback_in_the_log(server: ServerProcess) -> None:
    watcher = server.web("watcher")
    quitter, dropper = server.tcp(nick="quitter"), server.tcp(nick="dropper")
    web_quitter, web_dropper = server.web("webquitter"), server.web("webdropper")
    quitter.send("/quit bye")
    web_quitter.say("/quit bye")
    dropper.sock.close()
    web_dropper.ws.socket.close()  # vanishes without a close frame
    gone = {watcher.expect(type="leave")["nick"] for _ in range(4)}
    assert gone == {"quitter", "dropper", "webquitter", "webdropper"}
    assert "Traceback" not in server.output()


# -- health --------------------------------------------------------------------------------------


def test_healthz_counts_clients_per_gateway_and_reports_uptime(server: ServerProcess) -> None:
    before_first = time.monotonic()
    first = server.health()
    after_first = time.monotonic()
    assert first["status"] == "ok"
    assert first["clients"] == {"web": 0, "telnet": 0, "total": 0}
    tcp1, tcp2, web1 = server.tcp(nick="t1"), server.tcp(nick="t2"), server.web("w1")
    assert server.health()["clients"] == {"web": 1, "telnet": 2, "total": 3}
    tcp1.sock.close()
    web1.close()
    left = {tcp2.expect(lambda line: " left" in line).split()[1] for _ in range(2)}
    assert left == {"t1", "w1"}
    before_second = time.monotonic()
    second = server.health()
    after_second = time.monotonic()
    assert second["clients"] == {"web": 0, "telnet": 1, "total": 1}
    # Uptime is rounded to 0.1 s; between the two answers it grew by the time that really passed.
    grown = second["uptime_s"] - first["uptime_s"]
    assert before_second - after_first - 0.1 <= grown <= after_second - before_first + 0.1
    assert first["uptime_s"] <= process_age(server.pid) + 0.1

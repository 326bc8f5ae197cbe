"""Behind a platform's proxy: forwarded addresses count against per-address limits and are never
exempt, PROXY protocol headers on the TCP door name the real client, and telnet users survive a
proxy that cuts idle connections, while netcat users never see a byte they did not ask for."""

from __future__ import annotations

import json
import os
import pty
import select
import shutil
import socket
import subprocess
import time
from collections.abc import Callable

from idlecut import IdleCuttingProxy
from proxyheaders import V2_LOCAL, v1, v2_tcp4, v2_tcp6
from raw import RawWebSocket, first_line
from support import ServerProcess, TcpUser, WebUser, missing

CAP = "Connection refused: too many connections from your address (limit 1)"


def refused_websocket(server: ServerProcess, headers: dict[str, str]) -> str:
    """Open a WebSocket that the server refuses (it closes with 1013); return what it says why."""
    refused = RawWebSocket(server.port, headers=headers)
    opcode, payload = refused.recv_frame()
    assert opcode == 0x1
    assert refused.close_frame()[0] == 1013
    return json.loads(payload)["text"]


def test_a_forged_loopback_forwarded_for_is_capped_like_any_other_address(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(FORWARDED_ALLOW_IPS="*", CHAT_MAX_PER_IP="1")
    forged = {"X-Forwarded-For": "127.0.0.1"}
    first = server.web("forger", headers=forged)
    assert refused_websocket(server, forged) == CAP
    local = [server.web(f"local{n}") for n in range(3)]  # the socket's own loopback peer stays exempt
    first.say("still here")
    assert local[2].expect(type="message")["text"] == "still here"
    output = server.output()
    assert output.count("FORWARDED_ALLOW_IPS=* believes X-Forwarded-For from anyone") == 1, output


def test_an_ipv6_64_behind_the_proxy_is_one_address(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(CHAT_MAX_PER_IP="1")  # the proxy: loopback, the default FORWARDED_ALLOW_IPS
    first = server.web("first", headers={"X-Forwarded-For": "2001:db8:1:2::a"})
    assert refused_websocket(server, {"X-Forwarded-For": "2001:db8:1:2:ffff::b"}) == CAP  # same /64
    neighbour = server.web("neighbour", headers={"X-Forwarded-For": "2001:db8:1:3::a"})  # the next /64
    first.say("one each")
    assert neighbour.expect(type="message")["text"] == "one each"


def test_without_star_there_is_no_warning(server: ServerProcess) -> None:
    server.web("someone")
    assert "FORWARDED_ALLOW_IPS" not in server.output()


def watching(server: ServerProcess) -> WebUser:
    """A web user in the room, past its own join: what it sees next, the room saw."""
    watcher = server.web("watcher")
    watcher.expect(type="join", nick="watcher")
    return watcher


def send_header(server: ServerProcess, header: bytes) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.tcp_port), timeout=5)
    sock.sendall(header)
    return sock


def test_proxy_protocol_names_the_client_whose_connections_are_capped(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(CHAT_TCP_PROXY_PROTOCOL="1", CHAT_MAX_PER_IP="1")
    watcher = server.web("watcher")
    kept = []
    for header in (v1("203.0.113.5"), v2_tcp4("198.51.100.9"), v2_tcp6("2001:db8::7")):
        sock = send_header(server, header + b"/nick via" + str(len(kept)).encode() + b"\r\n")
        assert first_line(sock).startswith(b"You're connected")
        watcher.expect(type="nick", nick=f"via{len(kept)}")
        kept.append(sock)
    # the same addresses again; an IPv6 address is its /64, so ::8 is the same person as ::7
    for header in (v1("203.0.113.5"), v2_tcp4("198.51.100.9"), v1("2001:db8::7"), v2_tcp6("2001:db8::8")):
        with send_header(server, header) as again:
            assert first_line(again).decode() == f"! {CAP}"
            assert again.recv(4096) == b""
    with send_header(server, v2_tcp6("2001:db8:0:1::7") + b"/nick other64\r\n") as next_64:
        assert first_line(next_64).startswith(b"You're connected")
        watcher.expect(type="nick", nick="other64")
        assert server.health()["clients"]["telnet"] == 4


def test_proxy_unknown_or_local_is_the_proxys_health_check_it_exempts_nobody_and_joins_no_room(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(CHAT_TCP_PROXY_PROTOCOL="1", CHAT_MAX_PER_IP="1")
    watcher = watching(server)
    kept = [send_header(server, v1("203.0.113.5"))]
    assert first_line(kept[0]).startswith(b"You're connected")
    watcher.expect(type="join")
    for header in (V2_LOCAL, b"PROXY UNKNOWN\r\n", b"PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n"):
        with send_header(server, header + b"hello from nowhere\r\n") as check:
            assert first_line(check) == b"* ok: the chat server is up (a proxy's own health check: it joins no room)"
            assert check.recv(4096) == b""
    assert watcher.silent(0.3) == []  # no join, no leave, no line
    assert server.health()["clients"]["telnet"] == 1
    assert server.health()["history"]["messages"] == 0


def test_a_proxy_header_from_a_peer_not_trusted_is_not_believed(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(CHAT_TCP_PROXY_PROTOCOL="1", CHAT_PROXY_ALLOW_IPS="10.0.0.1", FORWARDED_ALLOW_IPS="*")
    watcher = watching(server)
    for header in (v1("203.0.113.5"), V2_LOCAL, b"PROXY UNKNOWN\r\n"):
        with send_header(server, header + b"hello\r\n") as forged:
            assert first_line(forged) == (
                b"! Connection refused (127.0.0.1 is not a trusted proxy (CHAT_PROXY_ALLOW_IPS);"
                b" this port takes connections through a PROXY protocol proxy)"
            )
    assert watcher.silent(0.3) == []
    assert server.health()["clients"] == {"web": 1, "telnet": 0, "total": 1}


def test_a_proxy_header_on_the_plain_port_is_refused_and_never_reaches_the_room(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(CHAT_QUIET_GRACE="5")  # the PROXY protocol is off; the pieces come within the grace
    watcher = watching(server)
    for header in (v1("203.0.113.5"), v2_tcp4("198.51.100.9"), b"PROX"):
        with send_header(server, header) as sock:
            if header == b"PROX":  # a header in pieces
                time.sleep(0.1)
                sock.sendall(v1("203.0.113.5")[4:])
            sock.sendall(b"hello\r\n")
            answer = b""
            while chunk := sock.recv(4096):  # to the end: the server hangs up
                answer += chunk
        refusal = b"! This port speaks plain text lines (telnet, netcat), not the PROXY protocol: it is off here"
        # one line, as a TLS or HTTP probe gets: it came before the welcome, so nobody was there to leave
        assert [line for line in answer.split(b"\r\n") if line] == [refusal + b" (CHAT_TCP_PROXY_PROTOCOL)"]
    assert not [frame for frame in watcher.silent(0.3) if frame.get("type") == "message"]
    assert server.health()["history"]["messages"] == 0


def test_a_connection_without_a_valid_proxy_header_is_refused_clearly(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(CHAT_TCP_PROXY_PROTOCOL="1", CHAT_HANDSHAKE_START="1", CHAT_HANDSHAKE_FINISH="2")
    watcher = watching(server)
    with send_header(server, b"hello, I am nc\r\n") as plain:
        assert first_line(plain) == (
            b"! Connection refused (the connection did not start with a PROXY protocol header;"
            b" this port takes connections through a PROXY protocol proxy)"
        )
        assert plain.recv(4096) == b""
    with send_header(server, b"PROXY TCP4 203.0.113.5 10.0.0.2 99999 2626\r\n") as bad_port:
        assert b"bad port '99999'" in first_line(bad_port)
    started = time.monotonic()
    with send_header(server, b"") as silent:
        silent.settimeout(15)
        assert first_line(silent).startswith(b"! Connection refused (no PROXY protocol header in time;")
    assert time.monotonic() - started >= 0.9  # the start deadline, not a hasty cut
    started = time.monotonic()
    with send_header(server, b"PROXY TCP4 203.0") as slow:
        slow.settimeout(15)
        assert first_line(slow).startswith(b"! Connection refused (PROXY protocol header not complete within 2 s;")
    assert time.monotonic() - started >= 1.9  # the finish deadline, counted from connecting
    assert watcher.silent(0.2) == []  # the room never saw any of them
    assert server.health()["clients"] == {"web": 1, "telnet": 0, "total": 1}


def received(sock: socket.socket) -> tuple[bytes, bool]:
    """What the socket got so far, and whether it was closed meanwhile."""
    data = b""
    sock.setblocking(False)
    try:
        while chunk := sock.recv(4096):
            data += chunk
    except BlockingIOError:
        return data, False
    except ConnectionError:
        pass
    return data, True


def blank_lines(data: bytes) -> int:
    return (b"\r\n" + data).count(b"\r\n\r\n")


def test_idle_pings_keep_telnet_users_through_an_idle_cutting_proxy_and_never_surprise_nc(
    start_server: Callable[..., ServerProcess],
) -> None:
    invisible = start_server(CHAT_TCP_IDLE_PING="1")
    visible = start_server(CHAT_TCP_IDLE_PING="1", CHAT_TCP_IDLE_LINE="1")
    proxies = [IdleCuttingProxy(server.tcp_port, idle=2.5) for server in (invisible, visible)]
    try:
        nc = TcpUser(proxies[0].port)
        telnet = TcpUser(proxies[0].port)
        telnet.send_raw(b"\xff\xf1")  # a telnet command (NOP): this client speaks telnet
        opted_in = TcpUser(proxies[1].port)
        time.sleep(6)  # the proxies cut after 2.5 s of silence; the server pings after at most 1 s
        (nc_got, nc_cut), (telnet_got, telnet_cut), (line_got, line_cut) = (
            received(user.sock) for user in (nc, telnet, opted_in)
        )
        assert nc_cut, "nc was kept alive although it did not ask"
        assert b"\xff" not in nc_got and not blank_lines(nc_got), nc_got  # just the telnet user's join
        assert not telnet_cut and telnet_got.count(b"\xff\xf1") >= 2, telnet_got
        assert not blank_lines(telnet_got.replace(b"\xff\xf1", b"")), telnet_got
        assert not line_cut and blank_lines(line_got) >= 2, line_got
        telnet.sock.setblocking(True)
        telnet.buffer = b""
        telnet.send("/who")
        assert telnet.expect(lambda line: " here: " in line).endswith(f"{telnet.nick} (telnet)")
    finally:
        for proxy in proxies:
            proxy.close()


def read_until(fd: int, marker: bytes, timeout: float) -> bytes:
    """Read a pty until ``marker`` shows (raises TimeoutError with what was read if it does not)."""
    data, deadline = b"", time.monotonic() + timeout
    while marker not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError(f"{marker!r} not seen; got {data!r}")
        try:
            data += os.read(fd, 4096)
        except OSError as closed:  # the telnet process ended
            raise EOFError(f"telnet ended; got {data!r}") from closed
    return data


def test_the_real_telnet_binary_stays_connected_through_an_idle_cutting_proxy(
    start_server: Callable[..., ServerProcess],
) -> None:
    telnet = shutil.which("telnet") or missing("telnet is not installed (apt install telnet)")
    server = start_server(CHAT_TCP_IDLE_PING="1")
    proxy = IdleCuttingProxy(server.tcp_port, idle=2.5)
    terminal, side = pty.openpty()
    # "-PORT": telnet negotiates options even on a port that is not 23, so it shows it speaks telnet
    process = subprocess.Popen([str(telnet), "--", "127.0.0.1", f"-{proxy.port}"], stdin=side, stdout=side, stderr=side)
    os.close(side)
    try:
        read_until(terminal, b"Here now:", 10)
        time.sleep(6)  # quiet for more than twice the proxy's idle timeout
        os.write(terminal, b"/who\r")
        assert b"(telnet)" in read_until(terminal, b" here: ", 10)
        assert proxy.cuts == 0
    finally:
        process.terminate()
        process.wait(5)
        os.close(terminal)
        proxy.close()

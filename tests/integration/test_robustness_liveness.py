"""Dead peers are found, live ones are kept: TCP keepalive on the telnet port, pings on WebSockets."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
from raw import RawWebSocket
from support import ServerProcess


def keepalive_timers(port: int) -> list[str]:
    """The kernel's timer column for each established connection accepted on ``port``."""
    listing = subprocess.run(
        ["ss", "-tnoH", "state", "established", f"( sport = :{port} )"], capture_output=True, text=True, check=True
    ).stdout
    return re.findall(r"timer:\((\w+),([^,]+),", listing)


@pytest.mark.skipif(shutil.which("ss") is None, reason="needs ss (iproute2) to read the kernel's timers")
def test_tcp_connections_have_keepalive_probing_within_minutes(server: ServerProcess) -> None:
    user = server.tcp(nick="idle")
    user.silent(0.2)  # all sent data acknowledged: the only timer left is keepalive's
    deadline = time.monotonic() + 5
    while (timers := keepalive_timers(server.tcp_port)) != [] and timers[0][0] != "keepalive":
        assert time.monotonic() < deadline, timers
        time.sleep(0.05)
    assert len(timers) == 1
    kind, due = timers[0]
    assert kind == "keepalive"
    assert due.endswith("sec") and float(due.removesuffix("sec")) <= 60  # not the kernel's two hours
    user.send("still here")


def test_a_websocket_peer_that_ignores_pings_is_closed_and_a_live_idle_one_is_kept(start_server) -> None:
    server = start_server(CHAT_WS_PING="0.3", CHAT_WS_PING_TIMEOUT="0.3")
    idle = server.web("idle")  # its client library answers pings, as browsers do
    deaf = RawWebSocket(server.port, "/ws?nick=deaf")  # reads, but never answers a ping
    assert deaf.close_frame() == (1011, "keepalive ping timeout")
    assert idle.expect(type="leave", nick="deaf")
    idle.say("still here after the pings")
    assert idle.expect(type="message")["text"] == "still here after the pings"
    assert server.health()["clients"]["web"] == 1

"""Starting the server: a taken TCP port fails clearly, CHAT_TCP_PORT=off runs web-only, and the
server logs what happens in the room."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ServerProcess


def test_taken_tcp_port_fails_start_up_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        server = ServerProcess(tmp_path, {"CHAT_TCP_PORT": str(taken)})
        try:
            with pytest.raises(RuntimeError, match="server exited with"):
                server.start()
        finally:
            server.stop()
    assert server.process is not None and server.process.returncode != 0
    output = server.output()
    assert f"cannot listen for TCP chat on 127.0.0.1:{taken}: Address already in use" in output
    assert "set CHAT_TCP_PORT to another port, or to 'off'" in output
    assert "Traceback" not in output


def test_tcp_port_off_runs_web_only(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(CHAT_TCP_PORT="off")
    alice = server.web("alice")
    bob = server.web("bob")
    alice.say("web only today")
    assert bob.expect(type="message", nick="alice")["text"] == "web only today"
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", server.tcp_port), timeout=2)
    assert "TCP gateway listening" not in server.output()


def test_server_logs_joins_messages_and_leaves(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    bob.send("hello log")
    alice.say("/me waves")
    bob.send("/quit bye")
    alice.expect(type="leave", nick="bob")
    deadline = time.monotonic() + 5  # the log is written by a thread of its own: give it a moment
    while "leave bob bye" not in server.output() and time.monotonic() < deadline:
        time.sleep(0.02)
    log = server.output()
    for entry in (
        "#1 join alice (web)",
        "join guest",
        "nick guest",
        "-> bob",
        "[bob] hello log",
        "* alice waves",
        "leave bob bye",
    ):
        assert entry in log, f"{entry!r} missing from the server log:\n{log}"

"""Starting the server: a taken TCP port or an unusable CHAT_DB fails clearly, history from the
previous release is kept on upgrade, CHAT_TCP_PORT=off runs web-only, and the server logs the room."""

from __future__ import annotations

import socket
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ROOT, ServerProcess


def refused_start(tmp_path: Path, **env: str) -> str:
    """Start the server with these settings, expect it to exit non-zero, and return its output."""
    server = ServerProcess(tmp_path, env)
    try:
        with pytest.raises(RuntimeError, match="server exited with"):
            server.start()
    finally:
        server.stop()
    assert server.process is not None and server.process.returncode != 0
    output = server.output()
    assert "Traceback" not in output
    return output


def test_taken_tcp_port_fails_start_up_with_a_clear_message(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        output = refused_start(tmp_path, CHAT_TCP_PORT=str(taken))
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
        "#1 #main join alice (web)",
        "join guest",
        "nick guest",
        "-> bob",
        "[bob] hello log",
        "* alice waves",
        "leave bob bye",
    ):
        assert entry in log, f"{entry!r} missing from the server log:\n{log}"


def test_an_unwritable_chat_db_fails_start_up_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / "no-such-directory" / "chat.db"
    output = refused_start(tmp_path, CHAT_DB=str(db))
    assert f"cannot use CHAT_DB={db}: cannot open it for writing (unable to open database file)" in output
    assert "check that its directory exists and the server may write there" in output


def test_a_chat_db_that_is_not_a_database_fails_start_up_and_is_left_alone(tmp_path: Path) -> None:
    db = tmp_path / "notes.txt"
    db.write_text("my notes, not a database\n" * 200)
    output = refused_start(tmp_path, CHAT_DB=str(db))
    assert f"cannot use CHAT_DB={db}: it is not a SQLite database (file is not a database)" in output
    assert db.read_text() == "my notes, not a database\n" * 200


def test_a_chat_db_from_a_newer_release_fails_start_up(tmp_path: Path) -> None:
    db = tmp_path / "chat.db"
    with sqlite3.connect(db) as connection:
        connection.execute("PRAGMA user_version = 99")
    output = refused_start(tmp_path, CHAT_DB=str(db))
    assert f"cannot use CHAT_DB={db}: it was written by a newer release (schema 99; this release reads up to" in output


def test_history_written_by_the_previous_release_is_kept_on_upgrade(
    tmp_path: Path, start_server: Callable[..., ServerProcess]
) -> None:
    db = tmp_path / "upgraded.db"
    with sqlite3.connect(db) as connection:
        connection.executescript((ROOT / "tests" / "fixtures" / "history-schema-1.sql").read_text())
    server = start_server(CHAT_DB=str(db), CHAT_WEB_HISTORY="100")
    reader = server.web("reader")
    replayed = reader.silent(0.5)
    said = [(e["nick"], e["text"]) for e in replayed if e["type"] == "message"]
    assert said == [("ann", "said before the upgrade"), ("anna", "héllo 👋 still here")]
    assert [e["id"] for e in replayed if e.get("history")] == [1, 2, 3, 4, 5, 6]
    reader.say("said after the upgrade")
    assert reader.expect(type="message", text="said after the upgrade")["id"] > 6

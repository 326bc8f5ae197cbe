"""Telnet's own protocol and editing keys, as the real ``telnet`` binary and raw bytes send them:
Ctrl-C no longer silences a user, keys edit the line, options are refused politely, and a
netcat user never sees a telnet byte."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from support import ServerProcess, TcpUser
from terminal import Telnet

IAC, SB, SE, WILL, WONT, DO, DONT = b"\xff", b"\xfa", b"\xf0", b"\xfb", b"\xfc", b"\xfd", b"\xfe"
IP, AO, AYT, TIMING_MARK = b"\xf4", b"\xf5", b"\xf6", b"\x06"


def read_until(user: TcpUser, marker: bytes, timeout: float = 5.0) -> bytes:
    """Raw bytes from the server up to and including ``marker`` (telnet answers are not lines)."""
    deadline = time.monotonic() + timeout
    while marker not in user.buffer:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {marker!r} within {timeout}s; got {user.buffer[-300:]!r}")
        user.sock.settimeout(remaining)
        data = user.sock.recv(65536)
        if not data:
            raise EOFError(f"server closed; got {user.buffer[-300:]!r}")
        user.buffer += data
    got, _, user.buffer = user.buffer.partition(marker)
    return got + marker


@pytest.fixture
def telnet_users(server: ServerProcess) -> Iterator[Callable[..., Telnet]]:
    """Open real telnet clients; each is closed after the test."""
    opened: list[Telnet] = []

    def open_one(character_mode: bool = False) -> Telnet:
        client = Telnet(server.tcp_port, character_mode)
        opened.append(client)
        return client

    yield open_one
    for client in opened:
        client.close()


# -- the real telnet binary --------------------------------------------------------------------


@pytest.mark.parametrize("character_mode", [False, True], ids=["line mode", "character mode"])
def test_ctrl_c_in_telnet_discards_the_line_and_the_user_still_sees_the_room(
    server: ServerProcess, telnet_users: Callable[..., Telnet], character_mode: bool
) -> None:
    watcher = server.tcp(nick="watcher")
    tess = telnet_users(character_mode)
    tess.type(b"/nick tess\r")
    watcher.expect(lambda line: line.endswith("is now known as tess"))
    tess.type(b"half a thought", pause=0.01 if character_mode else 0)
    tess.type(b"\x03")  # Ctrl-C
    time.sleep(0.2)
    tess.type(b"/who\r")
    assert "watcher (telnet)" in tess.wait_for("here:") + tess.wait_for("\n")  # output flows after Ctrl-C
    tess.type(b"after\r")
    assert watcher.expect(lambda line: line.startswith("[tess]")) == "[tess] after"
    watcher.send("hello tess")
    tess.wait_for("[watcher] hello tess")
    assert not any("half" in line for line in watcher.lines)


def test_editing_keys_in_character_mode_are_applied_by_the_server(
    server: ServerProcess, telnet_users: Callable[..., Telnet]
) -> None:
    watcher = server.tcp(nick="watcher")
    tess = telnet_users(character_mode=True)
    tess.type(b"/nick tess\r")
    watcher.expect(lambda line: line.endswith("is now known as tess"))
    tess.type(b"abc\x7fd\r", pause=0.02)  # the Backspace key: DEL
    assert watcher.expect(lambda line: line.startswith("[tess]")) == "[tess] abd"
    tess.type(b"wo\x08\x08hi\r", pause=0.02)  # Ctrl-H
    assert watcher.expect(lambda line: line.startswith("[tess]")) == "[tess] hi"
    tess.type("café\x7fe\r".encode(), pause=0.02)  # one Backspace takes the whole é
    assert watcher.expect(lambda line: line.startswith("[tess]")) == "[tess] cafe"
    tess.type(b"typo\x15fixed\r", pause=0.02)  # Ctrl-U
    assert watcher.expect(lambda line: line.startswith("[tess]")) == "[tess] fixed"


def test_line_mode_telnet_chats_as_before(server: ServerProcess, telnet_users: Callable[..., Telnet]) -> None:
    watcher = server.tcp(nick="watcher")
    tess = telnet_users()
    tess.type("/nick tess\rgrüße\r".encode())
    assert watcher.expect(lambda line: line.startswith("[tess]")) == "[tess] grüße"


# -- raw bytes -------------------------------------------------------------------------------------


def test_timing_mark_is_answered_after_the_output_before_it(server: ServerProcess) -> None:
    watcher = server.tcp(nick="watcher")
    bob = server.tcp(nick="bob")
    bob.send_raw(b"/who\r\nhalf" + IAC + IP + IAC + DO + TIMING_MARK)
    got = read_until(bob, IAC + WILL + TIMING_MARK)
    assert b"2 here:" in got and got.index(b"2 here:") < got.index(IAC + WILL)
    bob.send("rest")
    assert watcher.expect(lambda line: line.startswith("[bob]")) == "[bob] rest"


def test_are_you_there_and_abort_output(server: ServerProcess) -> None:
    bob = server.tcp(nick="bob")
    bob.send_raw(IAC + AYT)
    assert bob.read_line() == "[yes]"
    # what a command queued in the same breath as Abort Output is not written; later output is
    bob.send_raw(b"/help\r\n" + IAC + AO + IAC + DO + TIMING_MARK)
    assert b"Commands:" not in read_until(bob, IAC + WILL + TIMING_MARK)
    bob.send("/who")
    assert bob.expect(lambda line: "here:" in line).startswith("* 1 here: bob")


def test_options_are_refused_once_and_refusals_are_not_answered(server: ServerProcess) -> None:
    watcher = server.tcp(nick="watcher")
    bob = server.tcp(nick="bob")
    bob.send_raw(IAC + WILL + b"\x18" + IAC + DO + b"\x01" + IAC + WILL + b"\x1f")
    answers = read_until(bob, IAC + DONT + b"\x1f")
    assert answers == IAC + DONT + b"\x18" + IAC + WONT + b"\x01" + IAC + DONT + b"\x1f"
    bob.send_raw(IAC + WONT + b"\x18" + IAC + DONT + b"\x01" + b"still here\r\n")  # its acknowledgements
    assert watcher.expect(lambda line: line.startswith("[bob]")) == "[bob] still here"
    assert bob.silent(0.3) == [] and bob.buffer == b""  # nothing answered them: no loop


def test_a_long_subnegotiation_is_discarded_not_posted(server: ServerProcess) -> None:
    watcher = server.tcp(nick="watcher")
    bob = server.tcp(nick="bob")
    bob.send_raw(IAC + SB + b"\x18" + b"junk " * 400 + b"leaked?\r\n" + IAC + SE + b"fine\r\n")
    assert watcher.expect(lambda line: line.startswith("[bob]")) == "[bob] fine"


def test_netcat_users_never_see_a_telnet_byte(server: ServerProcess) -> None:
    watcher = server.tcp(nick="watcher")
    bob = server.tcp(nick="bob")
    for line in ("hi all", "/who", "/help", "/nick robert"):
        bob.send(line)
    watcher.expect(lambda line: line.endswith("is now known as robert"))
    bob.expect(lambda line: line.endswith("is now known as robert"))
    assert all("\xff" not in line for line in bob.lines) and IAC not in bob.buffer

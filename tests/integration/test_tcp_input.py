"""What a telnet/netcat user may send: telnet negotiation, broken UTF-8, control characters,
both line endings, blank and over-long lines. None of it disturbs anyone or ends the session."""

from __future__ import annotations

import socket
from collections.abc import Callable

from support import ServerProcess

IAC, SB, SE, WILL, DO, NOP = b"\xff", b"\xfa", b"\xf0", b"\xfb", b"\xfd", b"\xf1"


def test_telnet_negotiation_is_stripped(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    terminal_type = IAC + SB + b"\x18\x00xterm-256color" + IAC + SE
    bob.send_raw(IAC + WILL + b"\x18" + b"he" + IAC + DO + b"\x01" + b"l" + terminal_type + b"lo" + IAC + NOP + b"\r\n")
    assert alice.expect(type="message", nick="bob")["text"] == "hello"
    # a negotiation split across two packets is still recognised
    bob.send_raw(b"wor" + IAC + SB + b"\x1f\x00")
    bob.send_raw(b"\x50\x00\x18" + IAC + SE + b"ld\r\n")
    assert alice.expect(type="message", nick="bob")["text"] == "world"


def test_invalid_utf8_is_replaced_and_the_session_goes_on(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    carol = server.tcp(nick="carol")
    bob.send_raw(b"caf\xc3 \x80ok \xe2\x82\r\n")
    assert alice.expect(type="message", nick="bob")["text"] == "caf\ufffd \ufffdok \ufffd"
    assert carol.expect(lambda line: line.startswith("[bob]")) == "[bob] caf\ufffd \ufffdok \ufffd"
    bob.send("café ☕ still here")
    assert alice.expect(type="message", nick="bob")["text"] == "café ☕ still here"


def test_control_characters_never_reach_other_users(server: ServerProcess) -> None:
    alice = server.web("alice")
    carol = server.tcp(nick="carol")
    bob = server.tcp(nick="bob")
    nasty = (
        "A\x1b[31mred\x1b[0m B\x07C\x00D\u0085E\u009b2JF\x1b]0;pwned\x07G\x1bcH\x7fI\u202eJ\x1b[2J\x1b[HK"
    ).encode()
    bob.send_raw(nasty + b"\r\n")
    # DEL is an editing key on a terminal's line: it takes the H before it with it
    assert carol.expect(lambda line: line.startswith("[bob]")) == "[bob] Ared BCD EFGIJK"
    assert alice.expect(type="message", nick="bob")["text"] == "Ared BCD EFGIJK"
    assert b"\x1b" not in carol.buffer and not any("\x1b" in line or "\x07" in line for line in carol.lines)


def test_control_characters_in_nicks_and_actions_are_removed(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    bob.send_raw(b"/me \x1b[5mblinks\x1b[0m\x07\r\n")
    assert alice.expect(type="action", nick="bob")["text"] == "blinks"
    bob.send_raw(b"/nick ev\x1b[1mil\r\n")  # the escape is gone before the nick is checked
    assert bob.expect(lambda line: "known as" in line) == "* bob is now known as evil"


def test_lf_and_crlf_both_end_a_line(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    bob.send_raw(b"one\ntwo\r\nthree\n")
    assert [alice.expect(type="message", nick="bob")["text"] for _ in range(3)] == ["one", "two", "three"]


def test_line_split_across_packets_is_one_line(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    bob.send_raw(b"hel")
    bob.send_raw(b"lo wor")
    bob.send_raw(b"ld\r\n")
    assert alice.expect(type="message", nick="bob")["text"] == "hello world"


def test_blank_lines_are_ignored(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    bob.send_raw(b"\r\n\n   \r\n\t\r\n")
    bob.send("after the blanks")
    assert alice.expect(type="message", nick="bob")["text"] == "after the blanks"
    bob.send("/me syncs")
    assert bob.read_line() == "* [bob] syncs"  # no "Nothing to say" or other complaint before it


def test_overlong_line_is_refused_and_the_connection_still_works(start_server: Callable[..., ServerProcess]) -> None:
    server = start_server(CHAT_TCP_MAX_LINE="256")
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    bob.send("x" * 300)
    assert bob.read_line() == "! Line too long: not sent (the limit is 256 bytes)"
    bob.send("y" * 256)  # exactly at the limit: fine
    assert alice.expect(type="message", nick="bob")["text"] == "y" * 256
    bob.send("short again")
    assert alice.expect(type="message", nick="bob")["text"] == "short again"
    assert not any(e.get("text", "").startswith("x") for e in alice.events)


def test_overlong_line_arriving_in_pieces_is_refused_once_and_skipped(
    start_server: Callable[..., ServerProcess],
) -> None:
    server = start_server(CHAT_TCP_MAX_LINE="256")
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    bob.send_raw(b"x" * 200)
    bob.send_raw(b"x" * 200)
    assert bob.read_line() == "! Line too long: not sent (the limit is 256 bytes)"
    bob.send_raw(b"x" * 1000 + b" tail of the long line\r\n")
    bob.send("next line")
    assert alice.expect(type="message", nick="bob")["text"] == "next line"
    bob.send("/me syncs")
    assert bob.read_line() == "* [bob] syncs"  # refused once, not once per piece
    assert not any("tail" in e.get("text", "") for e in alice.events)


def test_a_client_that_stops_sending_still_gets_its_answers(server: ServerProcess) -> None:
    """``printf '/who\\n' | nc -N host 2626``: the input ends before the answer is written."""
    watcher = server.tcp(nick="watcher")
    with socket.create_connection(("127.0.0.1", server.tcp_port), timeout=5) as sock:
        sock.sendall(b"/who\r\n")
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    lines = received.decode().split("\r\n")
    assert lines[0] == "You're connected to the chat server — /help for commands"
    assert any(line.startswith("* 2 here: watcher (telnet), guest") for line in lines)
    assert watcher.expect(lambda line: line.endswith(" left")).startswith("* guest")

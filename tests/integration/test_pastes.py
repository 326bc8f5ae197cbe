"""A paste is the most ordinary thing people do: it goes through whole and in order, from a
terminal or the page; a flood is still refused and told."""

from __future__ import annotations

import time

from support import ServerProcess

PASTE = [f"line {n:02d} of the paste" for n in range(15)]


def test_a_terminal_paste_arrives_whole_and_in_order(server: ServerProcess) -> None:
    watcher = server.web("watcher")
    bob = server.tcp(nick="bob")
    bob.send_raw("".join(f"{line}\r\n" for line in PASTE).encode())
    said = [watcher.expect(type="message", nick="bob")["text"] for _ in PASTE]
    assert said == PASTE
    assert not [line for line in bob.silent(0.3) if line.startswith("!")]


def test_a_paste_cut_into_segments_is_still_one_paste(server: ServerProcess) -> None:
    watcher = server.tcp(nick="watcher")
    bob = server.tcp(nick="bob")
    data = "".join(f"{line}\r\n" for line in PASTE).encode()
    for start in range(0, len(data), 97):  # segments that cut lines in the middle
        bob.send_raw(data[start : start + 97])
        time.sleep(0.005)
    assert [watcher.expect(lambda line: line.startswith("[bob]")) for _ in PASTE] == [f"[bob] {t}" for t in PASTE]


def test_a_page_paste_sent_as_lines_reaches_terminals_line_by_line(server: ServerProcess) -> None:
    terminal = server.tcp(nick="terminal")
    alice = server.web("alice")
    for line in PASTE:
        alice.say(line)
    assert [terminal.expect(lambda line: line.startswith("[alice]")) for _ in PASTE] == [
        f"[alice] {text}" for text in PASTE
    ]
    assert not [e for e in alice.silent(0.3) if e["type"] == "error"]


def test_a_sustained_flood_is_refused_after_one_paste_and_told(server: ServerProcess) -> None:
    watcher = server.web("watcher")
    bob = server.tcp(nick="bob")
    bob.send_raw(b"".join(f"flood {n}\r\n".encode() for n in range(40)))
    refusals = [bob.expect(lambda line: line.startswith("! Slow down")) for _ in range(21)]
    assert "a paste of up to 20 lines" in refusals[0]
    said = [e["text"] for e in watcher.silent(0.5) if e["type"] == "message"]
    assert said == [f"flood {n}" for n in range(19)]  # the /nick just before took one of the 20

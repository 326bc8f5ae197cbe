"""What a WebSocket client may send: say frames, bare lines, and frames we cannot use."""

from __future__ import annotations

import json

from stamps import unstamped
from support import ServerProcess

SAY_HINT = 'Malformed JSON: send {"type": "say", "text": "..."}'


def test_malformed_json_gets_bad_frame_error_and_nothing_is_sent(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    alice.send_raw('{"type": "say", "text": "unfinished')
    assert alice.expect(type="error") == {"type": "error", "text": SAY_HINT, "code": "bad_frame"}
    alice.say("still connected")
    assert bob.expect(lambda line: line.startswith("[alice]")) == "[alice] still connected"
    assert not any("unfinished" in line for line in bob.lines)


def test_unknown_frame_type_gets_bad_frame_error(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    alice.send_raw(json.dumps({"type": "shout", "text": "HEY"}))
    assert alice.expect(type="error") == {
        "type": "error",
        "text": "Unknown frame type 'shout': the only type a client sends is \"say\"",
        "code": "bad_frame",
    }
    alice.send_raw(json.dumps({"type": "say", "text": 42}))
    assert alice.expect(type="error") == {
        "type": "error",
        "text": 'A "say" frame needs "text" as a string',
        "code": "bad_frame",
    }
    alice.say("after the errors")
    assert bob.expect(lambda line: line.startswith("[alice]")) == "[alice] after the errors"
    assert [line for line in bob.lines if line.startswith("[alice]")] == ["[alice] after the errors"]


def test_text_frame_that_is_not_a_json_object_is_a_line(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    alice.send_raw("typed by hand")
    assert bob.expect(lambda line: line.startswith("[alice]")) == "[alice] typed by hand"
    assert unstamped(alice.expect(type="message")) == {
        "type": "message",
        "nick": "alice",
        "text": "typed by hand",
        "self": True,
    }
    alice.send_raw("[1, 2, 3]")
    assert bob.expect(lambda line: line.startswith("[alice]")) == "[alice] [1, 2, 3]"
    alice.send_raw("/me waves by hand")
    assert bob.expect(lambda line: line.startswith("* [alice]")) == "* [alice] waves by hand"


def test_binary_frame_gets_bad_frame_error(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    alice.send_raw(b"hello in bytes")
    assert alice.expect(type="error") == {
        "type": "error",
        "text": "Binary frames are not supported: send text",
        "code": "bad_frame",
    }
    alice.say("and now as text")
    assert bob.expect(lambda line: line.startswith("[alice]")) == "[alice] and now as text"
    assert not any("bytes" in line for line in bob.lines)


def test_web_text_is_cleaned_of_control_characters_for_tcp_readers(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    carol = server.web("carol")
    alice.say("\x1b[2J\x1b[Hwiped\x07\x00 screen\u009b1m")
    assert bob.expect(lambda line: line.startswith("[alice]")) == "[alice] wiped screen"
    assert carol.expect(type="message", nick="alice")["text"] == "wiped screen"


def test_multiline_web_text_becomes_one_line(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    alice.say("first\nsecond\r\n* fake notice")
    assert bob.expect(lambda line: line.startswith("[alice]")) == "[alice] first second  * fake notice"

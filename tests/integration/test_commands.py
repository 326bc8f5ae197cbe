"""The commands, typed from either door: /who /msg /me /help /quit /nick, and unknown ones."""

from __future__ import annotations

from stamps import unstamped
from support import ServerProcess

HELP_LINES = [
    "* Commands:",
    "  /nick NAME      change your nick (letters, digits, _ and -, up to 24)",
    "  /who [#ROOM]    list everyone in your current room (or in #ROOM)",
    "  /me ACTION      say what you are doing (* [nick] waves)",
    "  /msg NICK TEXT  send a private message that only NICK sees, whatever room they are in",
    "  /join #ROOM     join a room (made if new) and make it your current room",
    "  /part [#ROOM] [REASON]  leave a room (your current one by default)",
    "  /rooms          list the rooms, biggest first",
    "  /topic [TEXT]   show or set your current room's topic",
    "  /history [N]    show the last N messages of your current room (default 20)",
    "  /help           this list",
    "  /quit [REASON]  leave the server",
    "  /ignore NICK    hide someone's lines from you this session (/unignore NICK)",
    "  /register PASS  protect your nick from others (/identify [NICK] PASS proves it)",
    "  /token [list]   a token proving your nick elsewhere, or your tokens (/token revoke ID|all)",
    "  /oper PASS      become a server operator; operators have /kick /remove /ban /unban /bans",
    "                  /mute /unmute /roomban /roomunban /roombans /slow /lock /unlock /invite /redact",
    "                  /topic lock|unlock /op /deop /modlog (a room operator's act in their room only)",
    "  Anything else you type is said to your current room; lines from your other rooms start with",
    "  their name, like [#dev]. Start a line with // to say something beginning with /.",
    "  Limits: 2000 characters a message; 5 lines at once, then 2 a second;"
    " a paste of up to 20 lines (4096 characters) goes through whole.",
]


def test_who_from_tcp_lists_everyone_with_gateway(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    carol = server.web("carol")
    bob.send("/who")
    assert bob.expect(lambda line: "here:" in line) == "* 3 here: alice (web), bob (telnet), carol (web)"
    bob.send("/me syncs")  # everyone gets this after anything sent to them before it
    alice.expect(type="action")
    carol.expect(type="action")
    assert "users" not in [e["type"] for e in alice.events + carol.events]  # the reply is bob's alone


def test_who_from_web_lists_everyone_with_gateway(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    alice.say("/who")
    assert alice.expect(type="users") == {
        "type": "users",
        "room": "#main",
        "users": [{"nick": "alice", "gateway": "web"}, {"nick": bob.nick, "gateway": "telnet"}],
        "total": 2,
    }


def test_private_message_from_web_only_reaches_its_target(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    carol = server.web("carol")
    dave = server.tcp(nick="dave")
    alice.say("/msg BOB the secret")
    assert bob.expect(lambda line: "secret" in line) == "[alice → you] the secret"
    mine = alice.expect(type="private")
    assert mine == {"type": "private", "nick": "alice", "to": "bob", "text": "the secret", "self": True}
    dave.send("/me syncs")
    carol.expect(type="action")
    dave.expect("* [dave] syncs")
    assert "private" not in [e["type"] for e in carol.events]
    assert not any("secret" in line for line in dave.lines)


def test_private_message_from_tcp_only_reaches_its_target(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    carol = server.web("carol")
    dave = server.tcp(nick="dave")
    bob.send("/msg alice psst")
    assert alice.expect(type="private") == {"type": "private", "nick": "bob", "to": "alice", "text": "psst"}
    assert bob.expect(lambda line: "psst" in line) == "[you → alice] psst"
    dave.send("/me syncs")
    carol.expect(type="action")
    dave.expect("* [dave] syncs")
    assert "private" not in [e["type"] for e in carol.events]
    assert not any("psst" in line for line in dave.lines)


def test_private_message_to_unknown_nick_is_an_error(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    bob.send("/msg zed hello")
    assert bob.expect(lambda line: line.startswith("!")) == "! No one here is called zed"
    alice.say("/msg zed hello")
    assert alice.expect(type="error") == {"type": "error", "text": "No one here is called zed", "code": "no_such_nick"}


def test_me_is_an_action_on_both_sides(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    alice.say("/me waves")
    assert bob.expect(lambda line: "waves" in line) == "* [alice] waves"
    assert unstamped(alice.expect(type="action")) == {
        "type": "action",
        "room": "#main",
        "nick": "alice",
        "text": "waves",
        "self": True,
    }
    bob.send("/me nods")
    assert unstamped(alice.expect(type="action", nick="bob")) == {
        "type": "action",
        "room": "#main",
        "nick": "bob",
        "text": "nods",
    }
    assert bob.expect(lambda line: "nods" in line) == "* [bob] nods"  # an action is shown to its sender too


def test_help_lists_the_commands_on_both_sides(server: ServerProcess) -> None:
    bob = server.tcp(nick="bob")
    bob.send("/help")
    bob.expect(HELP_LINES[0])
    assert [bob.read_line() for _ in HELP_LINES[1:]] == HELP_LINES[1:]
    alice = server.web("alice")
    alice.say("/help")
    help_event = alice.expect(type="system")
    assert help_event["text"].splitlines() == [line[2:] for line in HELP_LINES]
    alice.say("/me syncs")
    bob.expect("* [alice] syncs")
    assert bob.lines.count("* Commands:") == 1


def test_tcp_quit_says_goodbye_closes_and_others_see_the_reason(server: ServerProcess) -> None:
    alice = server.web("alice")
    watcher = server.tcp(nick="carol")
    bob = server.tcp(nick="bob")
    bob.send("/quit off to lunch")
    assert bob.expect(lambda line: "Goodbye" in line) == "* Goodbye!"
    assert bob.closed()
    assert unstamped(alice.expect(type="leave")) == {
        "type": "leave",
        "room": "#main",
        "nick": "bob",
        "text": "off to lunch",
        "gateway": "telnet",
    }
    assert watcher.expect(lambda line: "left" in line) == "* bob left (off to lunch)"


def test_web_quit_closes_the_socket_and_others_see_the_leave(server: ServerProcess) -> None:
    watcher = server.tcp(nick="carol")
    alice = server.web("alice")
    alice.say("/quit")
    assert alice.expect(type="system") == {"type": "system", "text": "Goodbye!"}
    alice.ws.recv_events_thread.join(5)
    assert alice.ws.close_code == 1000
    assert watcher.expect(lambda line: "left" in line) == "* alice left"


def test_nick_taken_case_insensitively_is_refused_with_reason(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    bob.send("/nick ALICE")
    assert bob.expect(lambda line: line.startswith("!")) == "! Nick refused: 'ALICE' is already taken"
    alice.say("/nick Bob")
    assert alice.expect(type="error") == {
        "type": "error",
        "text": "Nick refused: 'Bob' is already taken",
        "code": "nick_refused",
    }
    bob.send("/who")
    assert bob.expect(lambda line: "here:" in line) == "* 2 here: alice (web), bob (telnet)"


def test_nick_rules_are_explained(server: ServerProcess) -> None:
    bob = server.tcp(nick="bob")
    bob.send("/nick bad!name")
    assert bob.read_line() == "! Nick refused: a nick may only use letters, digits, '_' and '-'"
    bob.send("/nick " + "x" * 25)
    assert bob.read_line() == "! Nick refused: a nick is at most 24 characters"
    bob.send("/nick")
    assert bob.read_line() == "! Usage: /nick NAME — you are bob"


def test_nick_change_to_own_nick_in_other_case_is_seen_by_everyone(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    bob.send("/nick Bob")
    assert unstamped(alice.expect(type="nick", old="bob")) == {
        "type": "nick",
        "room": "#main",
        "nick": "Bob",
        "old": "bob",
        "gateway": "telnet",
    }
    assert bob.expect(lambda line: "known as" in line) == "* bob is now known as Bob"


def test_taken_nick_at_connect_gives_guest_nick_and_error(server: ServerProcess) -> None:
    bob = server.tcp(nick="bob")
    web = server.web("BOB")
    assert web.nick.startswith("guest")
    assert web.expect(type="error") == {
        "type": "error",
        "text": "Nick refused: 'BOB' is already taken",
        "code": "nick_refused",
    }
    assert bob.expect(lambda line: "joined" in line) == f"* {web.nick} joined (web)"
    text = server.web("bob", query="mode=text")
    assert text.nick.startswith("guest")
    assert text.expect(lambda line: line.startswith("!")) == "! Nick refused: 'bob' is already taken"


def test_unknown_command_is_an_error_and_not_broadcast(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    bob.send("/dance wildly")
    assert bob.expect(lambda line: line.startswith("!")) == "! Unknown command /dance — type /help for the list"
    alice.say("/Dance")
    assert alice.expect(type="error") == {
        "type": "error",
        "text": "Unknown command /Dance — type /help for the list",
        "code": "unknown_command",
    }
    alice.say("/me syncs")
    bob.expect("* [alice] syncs")
    alice.expect(type="action")
    assert not any("dance" in e.get("text", "") for e in alice.events)
    assert not any("Dance" in line for line in bob.lines)


def test_double_slash_says_a_line_starting_with_slash(server: ServerProcess) -> None:
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    bob.send("//etc/passwd is a file")
    assert alice.expect(type="message", nick="bob")["text"] == "/etc/passwd is a file"

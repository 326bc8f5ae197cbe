"""Protected nicks on both doors: /register, /identify with the password or the page's token, what
someone else who asks for the nick is told, and lapsing (the limits on guesses: test_guess_limits)."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable

from support import ServerProcess, TcpUser
from terminal import Telnet

Start = Callable[..., ServerProcess]
SECRET = "open sesame 42"


def refusal(user: TcpUser) -> str:
    return user.expect(lambda line: line.startswith("!"))


def register(user: TcpUser, password: str = SECRET) -> None:
    user.send(f"/register {password}")
    user.expect(lambda line: line.startswith(f"* {user.nick} is registered to you"))


def test_a_registered_nick_is_refused_to_others_on_both_doors_until_its_owner_identifies(server: ServerProcess) -> None:
    watcher = server.web("watcher")
    ann = server.tcp(nick="ann")
    register(ann)
    ann.close()
    watcher.expect(type="leave", nick="ann")  # the nick is free: only its registration keeps it
    impostor = server.web("ann")
    assert impostor.nick.startswith("guest")
    assert impostor.expect(type="error")["text"] == (
        "Nick refused: 'ann' is a registered nick: /identify PASSWORD if it is yours"
    )
    other = server.tcp()
    other.send("/nick ɑnn")  # with a Latin alpha: a look-alike is no way round a registration
    assert refusal(other) == "! Nick refused: 'ann' is a registered nick: /identify PASSWORD if it is yours"
    other.send("/nick ANN")
    assert refusal(other) == "! Nick refused: 'ann' is a registered nick: /identify PASSWORD if it is yours"
    other.send("/identify wrong password")
    assert refusal(other) == "! Wrong password"
    other.send(f"/identify {SECRET}")  # proves the nick it last asked for
    other.expect("* You are identified as ann")
    other.expect(f"* {other.nick} is now known as ann")
    impostor.expect(type="nick", nick="ann")


def test_the_page_identifies_with_its_token_never_the_password(server: ServerProcess) -> None:
    watcher = server.tcp(nick="watcher")
    ann = server.web("ann")
    ann.say(f"/register {SECRET}")
    registered = ann.expect(type="identified")
    token = registered["token"]
    assert len(token) >= 32 and SECRET not in str(ann.events)
    ann.close()
    watcher.expect(lambda line: line.startswith("* ann left"))
    back = server.web("ann", query=f"token={token}")
    assert back.nick == "ann"
    stolen = server.web("ann", query="token=not-the-token")
    assert stolen.nick.startswith("guest")
    web_identify = server.web()
    web_identify.say(f"/identify ann {SECRET}")
    fresh = web_identify.expect(type="identified")
    assert fresh["nick"] == "ann" and fresh["token"] != token
    assert SECRET not in server.output()


def test_registering_needs_a_real_password_and_a_free_nick(server: ServerProcess) -> None:
    ann = server.tcp(nick="ann")
    ann.send("/register short")
    assert refusal(ann) == "! Usage: /register PASSWORD (8 characters at least): protects your nick"
    register(ann)
    guest = server.tcp()
    guest.send("/identify bob whatever")
    assert refusal(guest) == "! No registered nick to prove: /identify NICK PASSWORD, or /register PASSWORD"
    ann.send("/identify")  # the password comes on the next line
    ann.expect(lambda line: line.startswith("* Type the password on the next line"))


def test_a_registration_survives_a_restart(start_server: Start) -> None:
    server = start_server()
    register(server.tcp(nick="ann"))
    server.stop()
    again = start_server(CHAT_DB=server.env["CHAT_DB"])
    assert again.web("ann").nick.startswith("guest")


def test_a_registration_unused_for_the_expiry_lapses(start_server: Start) -> None:
    server = start_server(CHAT_NICK_EXPIRY="0.00002")  # 1.7 seconds
    ann = server.tcp(nick="ann")
    register(ann)
    registered = time.monotonic()
    ann.close()
    time.sleep(max(0.0, registered + 2 - time.monotonic()))
    assert server.web("ann").nick == "ann"


def test_telnet_hides_a_password_typed_on_its_own_line_and_netcat_is_told_it_shows(server: ServerProcess) -> None:
    client = Telnet(server.tcp_port)
    try:
        client.type(b"/nick ann\r\n")
        client.wait_for("is now known as ann")
        client.type(b"/register\r\n")
        client.wait_for("Type the password on the next line (a telnet client hides it; netcat shows what you type)")
        client.wait_echo(False)
        client.type(SECRET.encode() + b"\r\n")
        shown = client.wait_for("ann is registered to you")
        assert SECRET not in shown, "telnet echoed the password"
        client.wait_echo(True)
        client.type(b"typed after\r\n")  # and echo is back on afterwards
        client.wait_for("typed after")
    finally:
        client.close()
    nc = server.tcp()
    nc.send("/identify ann")
    nc.expect("* Type the password on the next line (a telnet client hides it; netcat shows what you type)")
    assert raw_until(nc, b"\xff\xfb\x01") == b"\xff\xfb\x01"  # IAC WILL ECHO, only after the warning
    nc.send(SECRET)
    assert raw_until(nc, b"\r\n") == b"\xff\xfc\x01* You are identified as ann\r\n"  # and IAC WONT ECHO


def raw_until(user: TcpUser, marker: bytes) -> bytes:
    """Raw bytes from the server up to ``marker`` (telnet commands are not lines)."""
    while marker not in user.buffer:
        data = user.sock.recv(4096)
        assert data, f"closed; got {user.buffer!r}"
        user.buffer += data
    got, _, user.buffer = user.buffer.partition(marker)
    return got + marker


def test_a_registered_nick_made_room_operator_moderates_whenever_its_owner_identifies(start_server: Start) -> None:
    server = start_server(CHAT_OPERATOR_PASSWORD="server op pass", CHAT_RATE="0")
    boss = server.tcp(nick="boss")
    boss.send("/oper server op pass")
    boss.expect("* boss is now a server operator")
    helper = server.web("helper")
    boss.send("/op helper")
    assert refusal(boss) == "! Usage: /op NICK — a registered nick: they /register first"
    helper.say(f"/register {SECRET}")
    token = helper.expect(type="identified")["token"]
    boss.send("/op helper")
    boss.expect("* helper was made a room operator by boss: #main")
    troll = server.tcp(nick="troll")
    helper.say("/mute troll 30s")
    boss.expect("* troll was muted by helper: 30 seconds")
    helper.say("/ban troll")
    assert helper.expect(type="error")["text"] == "Only server operators may /ban"
    helper.close()
    boss.expect(lambda line: line.startswith("* helper left"))
    back = server.web("helper", query=f"token={token}")
    boss.expect("* helper is an operator of #main (identified)")
    assert {u["nick"]: u.get("op", False) for u in back.welcome["users"]}["boss"] is True
    back.say("/unmute troll")
    boss.expect("* troll was unmuted by helper")
    troll.send("free again")
    boss.expect("[troll] free again")
    back.say("/kick troll enough")  # a room operator's kick stops at the room; #main keeps everyone
    assert back.expect(type="error")["text"] == (
        "#main is where everyone arrives: no one is taken out of it (/mute holds)"
    )
    back.say("/kick boss")
    assert back.expect(type="error")["text"] == "boss is a server operator: you cannot /kick them"
    boss.send("/deop helper")
    boss.expect("* helper is no longer a room operator (boss): #main")
    back.say("/kick boss")
    assert back.expect(type="error")["text"] == "Only operators may /kick"
    back.say("/modlog")
    assert back.expect(type="error")["text"] == "Only operators may read /modlog"


def test_with_redis_a_nick_registered_in_one_process_is_protected_in_all(start_server: Start, redis_server) -> None:
    shared = {"REDIS_URL": redis_server.url, "CHAT_REDIS_HEARTBEAT": "0.3"}
    a, b = start_server(**shared), start_server(**shared)
    ann = a.web("ann")
    ann.say(f"/register {SECRET}")
    token = ann.expect(type="identified")["token"]
    ann.close()
    deadline = time.monotonic() + 5  # each process reads the shared records again within a second
    while (
        reason := refused_as(b, "ann")
    ) != "Nick refused: 'ann' is a registered nick: /identify PASSWORD if it is yours":
        assert time.monotonic() < deadline, f"the other process never learnt of the registration ({reason})"
        time.sleep(0.1)
    while (owner := b.web("ann", query=f"token={token}")).nick != "ann":  # once the last try has left
        owner.close()
        assert time.monotonic() < deadline + 5, "the token was not taken"
        time.sleep(0.1)


def refused_as(server: ServerProcess, nick: str) -> str:
    """Why a web user asking for ``nick`` did not get it ("" if it did), once it has gone again."""
    user = server.web(nick)
    reason = "" if user.nick == nick else user.expect(type="error")["text"]
    user.close()
    return reason


def test_the_token_never_reaches_the_web_servers_access_log(launch: Callable[..., ServerProcess]) -> None:
    server = launch([sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "app.asgi:app"])
    ann = server.web("ann")
    ann.say(f"/register {SECRET}")
    token = ann.expect(type="identified")["token"]
    watcher = server.tcp(nick="watcher")
    ann.close()
    watcher.expect(lambda line: line.startswith("* ann left"))
    assert server.web("ann", query=f"token={token}").nick == "ann"
    deadline = time.monotonic() + 5
    while '/ws?nick=ann&token=…"' not in server.output():
        assert time.monotonic() < deadline, server.output()[-2000:]
        time.sleep(0.05)
    assert token not in server.output() and SECRET not in server.output()

"""Protected nicks on both doors: /register, /identify with the password or the page's token, what
someone else who asks for the nick is told, lapsing, and the limit on guesses."""

from __future__ import annotations

import time
from collections.abc import Callable

from proxyheaders import v1
from support import ServerProcess, TcpUser

Start = Callable[..., ServerProcess]
SECRET = "open sesame 42"


def refusal(user: TcpUser) -> str:
    return user.expect(lambda line: line.startswith("!"))


def register(user: TcpUser, password: str = SECRET) -> None:
    user.send(f"/register {password}")
    user.expect(lambda line: line.startswith(f"* {user.nick} is registered to you"))


def test_a_registered_nick_is_refused_to_others_on_both_doors_until_its_owner_identifies(server: ServerProcess) -> None:
    ann = server.tcp(nick="ann")
    register(ann)
    ann.close()
    impostor = server.web("ann")
    assert impostor.nick.startswith("guest")
    assert impostor.expect(type="error")["text"] == (
        "Nick refused: 'ann' is a registered nick: /identify PASSWORD if it is yours"
    )
    other = server.tcp()
    other.send("/nick ANN")
    assert refusal(other) == "! Nick refused: 'ann' is a registered nick: /identify PASSWORD if it is yours"
    other.send("/identify wrong password")
    assert refusal(other) == "! Wrong password"
    other.send(f"/identify {SECRET}")  # proves the nick it last asked for
    other.expect("* You are identified as ann")
    other.expect(f"* {other.nick} is now known as ann")
    impostor.expect(type="nick", nick="ann")


def test_the_page_identifies_with_its_token_never_the_password(server: ServerProcess) -> None:
    ann = server.web("ann")
    ann.say(f"/register {SECRET}")
    registered = ann.expect(type="identified")
    token = registered["token"]
    assert len(token) >= 32 and SECRET not in str(ann.events)
    ann.close()
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
    ann.send("/identify")
    assert refusal(ann) == "! Usage: /identify [NICK] PASSWORD"


def test_guesses_at_a_nick_are_limited_per_address_and_per_nick(start_server: Start) -> None:
    server = start_server(CHAT_TCP_PROXY_PROTOCOL="1", CHAT_RATE="0")
    owner = server.tcp(nick="ann", preamble=v1("192.0.2.10"))
    register(owner)
    guessers = [server.tcp(preamble=v1(f"203.0.113.{n}")) for n in (1, 2)]
    for attempt in range(5):
        guesser = guessers[attempt % 2]
        guesser.send(f"/identify ann guess{attempt}")
        assert refusal(guesser) == "! Wrong password"
    late = server.tcp(preamble=v1("198.51.100.3"))
    late.send(f"/identify ann {SECRET}")  # even the right password waits: the nick has been guessed at enough
    assert refusal(late) == "! Too many wrong passwords: try again in 10 minutes"


def test_a_registration_survives_a_restart_and_lapses_once_unused_for_the_expiry(start_server: Start) -> None:
    expiry = {"CHAT_NICK_EXPIRY": "0.0001"}  # 8.6 seconds
    server = start_server(**expiry)
    ann = server.tcp(nick="ann")
    register(ann)
    registered = time.monotonic()
    ann.close()
    server.stop()
    again = start_server(**expiry, CHAT_DB=server.env["CHAT_DB"])
    assert again.web("ann").nick.startswith("guest"), "still protected after the restart"
    time.sleep(max(0.0, registered + 9 - time.monotonic()))
    assert again.web("ann").nick == "ann"

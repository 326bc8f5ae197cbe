"""Guess limits that hold under bursts and lock out only the guesser, and the tokens a registered
nick's devices keep: through telnet and the web frame, in one process and in two sharing Redis."""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Callable, Iterator

import pytest
import redis
from proxyheaders import v1
from support import DEFAULT_TIMEOUT, REDIS_SERVER, RedisServer, ServerProcess, TcpUser, WebUser, missing

Start = Callable[..., ServerProcess]
Pair = tuple[ServerProcess, ServerProcess]
OPERATOR_PASSWORD = "correct horse battery"
SECRET = "open sesame 42"
THROTTLED = re.compile(r"! Too many password attempts: try again in \d+ (second|minute)s?")
ENV = {
    "CHAT_OPERATOR_PASSWORD": OPERATOR_PASSWORD,
    "CHAT_RATE": "0",
    "CHAT_TCP_PROXY_PROTOCOL": "1",
    "CHAT_REDIS_HEARTBEAT": "0.3",
    "CHAT_CHURN_CALM": "1000",  # every leave shown by name, never summed up
}
SHARED = {**ENV, "CHAT_GUESS_NICK_FREE": "8"}
"""The module's servers: every test guesses from addresses and at nicks of its own."""


@pytest.fixture(scope="module", params=["one process", "two processes and Redis"])
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pair]:
    """Two ways in, shared by the module's tests: one process twice, or two processes sharing a real Redis."""
    if request.param == "one process":
        server = ServerProcess(tmp_path_factory.mktemp("guesses"), SHARED).start()
        yield server, server
        server.stop()
        return
    if not os.access(REDIS_SERVER, os.X_OK):
        missing("redis-server is not installed (apt install redis-server)")
    redis_server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    env = {**SHARED, "REDIS_URL": redis_server.url}
    processes = [ServerProcess(tmp_path_factory.mktemp(f"guesses-{n}"), env) for n in "ab"]
    try:
        a, b = (process.start() for process in processes)
        yield a, b
    finally:
        for process in processes:
            process.stop()
        redis_server.stop()


def telnet_from(server: ServerProcess, address: str, nick: str | None = None) -> TcpUser:
    return server.tcp(nick=nick, preamble=v1(address))


def web_from(server: ServerProcess, address: str, nick: str | None = None, query: str = "") -> WebUser:
    """A web user whose address, as the trusted proxy (loopback) forwards it, is ``address``."""
    return server.web(nick, query=query, headers={"X-Forwarded-For": address})


def signed_in_when_free(server: ServerProcess, address: str, token: str) -> WebUser:
    """ann's page, proved by ``token``, once ``server`` has heard that another process let the nick
    go (it learns that through Redis, a moment after the other process's users saw her leave)."""
    deadline = time.monotonic() + 10
    while True:
        page = web_from(server, address, "ann", query=f"token={token}")
        if page.nick == "ann" or time.monotonic() > deadline:
            return page
        page.close()
        time.sleep(0.1)


def refusal(user: TcpUser) -> str:
    return user.expect(lambda line: line.startswith("!"))


def modlog(user: TcpUser) -> list[str]:
    user.send("/modlog")
    heading = user.expect(lambda line: "moderation actions" in line)
    count = int(heading.split()[2])
    return [user.read_line() for _ in range(count)]


def registered_everywhere(server: ServerProcess, nick: str) -> None:
    """Wait until ``server`` knows ``nick`` is registered (another process reads the shared store
    within a second): ``/identify NICK`` then asks for the password (which costs no guess)."""
    deadline = time.monotonic() + DEFAULT_TIMEOUT
    while True:
        probe = telnet_from(server, "192.0.2.250")
        probe.send(f"/identify {nick}")
        answer = probe.expect(lambda line: line.startswith(("!", "* Type the password")))
        probe.close()
        if answer.startswith("* Type the password"):
            return
        assert time.monotonic() < deadline, f"{nick} is still unregistered on {server.http_url}"
        time.sleep(0.1)


def signed_in(server: ServerProcess, nick: str, token: str, proves: bool = True) -> WebUser:
    """A page that signs in with ``token`` and is (``proves``) or is not given ``nick``: a token
    made or revoked in another process is read there within a second."""
    deadline = time.monotonic() + DEFAULT_TIMEOUT
    while True:
        page = web_from(server, "198.51.100.30", nick, query=f"token={token}")
        if (page.nick == nick) == proves:
            return page
        page.close()
        assert time.monotonic() < deadline, f"the token {'does not prove' if proves else 'proves'} {nick} still"
        time.sleep(0.1)


def refused_sign_in(server: ServerProcess, nick: str, token: str) -> WebUser:
    return signed_in(server, nick, token, proves=False)


def oper(user: TcpUser) -> None:
    user.send(f"/oper {OPERATOR_PASSWORD}")
    user.expect(f"* {user.nick} is now a server operator")


def test_a_burst_of_oper_guesses_in_one_write_reaches_the_check_five_times(pair: Pair) -> None:
    a, b = pair
    guesser = telnet_from(a, "203.0.113.50")
    guesser.send_raw(b"".join(f"/oper wrong{n}\r\n".encode() for n in range(20)))
    answers = [refusal(guesser) for _ in range(20)]
    assert answers.count("! Wrong password") == 5, answers
    assert all(THROTTLED.fullmatch(answer) for answer in answers if answer != "! Wrong password"), answers
    again = telnet_from(b, "203.0.113.50")  # the address's count is shared by every process
    again.send(f"/oper {OPERATOR_PASSWORD}")
    assert THROTTLED.fullmatch(refusal(again))
    web = web_from(b, "198.51.100.51")  # the web frame: a burst of frames
    for n in range(20):
        web.say(f"/oper web{n}")
    errors = [web.expect(type="error") for _ in range(20)]
    assert [e["code"] for e in errors].count("wrong_password") == 5
    assert {e["code"] for e in errors} == {"wrong_password", "rate_limited"}
    operator = telnet_from(a, "192.0.2.1")  # the real operator, elsewhere, is not held back
    oper(operator)
    logged = modlog(operator)
    failures = [entry for entry in logged if "tried a wrong operator password" in entry]
    assert (
        sum(
            entry.endswith(f"{guesser.nick} tried a wrong operator password (via telnet) (from 203.0.113.50)")
            for entry in failures
        )
        == 5
    )
    assert (
        sum(
            entry.endswith(f"{web.nick} tried a wrong operator password (via web) (from 198.51.100.51)")
            for entry in failures
        )
        == 5
    )
    output = a.output() + b.output()
    assert "wrong1" not in output and "web1" not in output and OPERATOR_PASSWORD not in output
    assert not any("wrong1" in entry or "web1" in entry for entry in logged)


def test_a_strangers_guesses_never_lock_the_owner_out(pair: Pair) -> None:
    """Strangers guess at alice until every address not known must wait; alice, from the address
    she proved it from, and her page with its token, are not held back."""
    a, b = pair
    watcher = telnet_from(a, "192.0.2.99")
    page = web_from(a, "192.0.2.10", "alice")
    page.say(f"/register {SECRET}")
    token = page.expect(type="identified")["token"]
    page.close()
    watcher.expect(lambda line: line.startswith("* alice left"))
    registered_everywhere(b, "alice")
    first = telnet_from(b, "203.0.113.1")
    for attempt in range(5):
        first.send(f"/identify alice guess-{attempt}")
        assert refusal(first) == "! Wrong password"
    first.send(f"/identify alice {SECRET}")  # its free guesses are spent: even the right one waits
    assert THROTTLED.fullmatch(refusal(first))
    second = telnet_from(b, "203.0.113.2")
    for attempt in range(3):
        second.send(f"/identify alice guess-{5 + attempt}")
        assert refusal(second) == "! Wrong password"
    second.send("/identify alice guess-8")  # alice's count from everywhere now holds back every address not known
    assert THROTTLED.fullmatch(refusal(second))
    newcomer = telnet_from(a, "198.51.100.9")
    newcomer.send(f"/identify alice {SECRET}")
    assert THROTTLED.fullmatch(refusal(newcomer))
    owner = telnet_from(b, "192.0.2.10")  # her own address, in the other process
    owner.send(f"/identify alice {SECRET}")
    owner.expect("* You are identified as alice")
    owner.close()
    watcher.expect(lambda line: line.startswith("* alice left"))
    back = web_from(a, "198.51.100.77", "alice", query=f"token={token}")  # her page, from anywhere
    assert back.nick == "alice"
    operator = telnet_from(a, "192.0.2.1")
    oper(operator)
    failures = [entry for entry in modlog(operator) if "tried a wrong password for alice" in entry]
    assert [entry.split(" alice ", 1)[1] for entry in failures] == ["(via telnet) (from 203.0.113.1)"] * 5 + [
        "(via telnet) (from 203.0.113.2)"
    ] * 3
    assert not any("guess" in entry for entry in failures)


def test_oper_guesses_from_a_shared_address_slow_only_their_own_connection(pair: Pair) -> None:
    """Loopback is a trusted proxy here: many people behind one address. A guesser on it is slowed
    per connection; the real operator on another connection is not locked out."""
    a, b = pair
    guesser = a.web()  # no forwarded address: the proxy's own, exempt
    for n in range(8):
        guesser.say(f"/oper guess{n}")
    codes = [guesser.expect(type="error")["code"] for _ in range(8)]
    assert sorted(codes) == ["rate_limited"] * 3 + ["wrong_password"] * 5  # (those not checked are answered first)
    operator = b.web()
    operator.say(f"/oper {OPERATOR_PASSWORD}")
    assert operator.expect(type="moderation")["text"] == f"{operator.nick} is now a server operator"


def test_after_the_free_guesses_each_wait_grows(start_server: Start) -> None:
    server = start_server(**ENV, CHAT_GUESS_FREE="2", CHAT_GUESS_DELAY="1", CHAT_GUESS_MAX_DELAY="60")
    guesser = telnet_from(server, "203.0.113.60")
    for n in range(2):
        guesser.send(f"/oper guess{n}")
        assert refusal(guesser) == "! Wrong password"
    guesser.send("/oper too-soon")
    assert refusal(guesser) == "! Too many password attempts: try again in 1 second"
    guesser.silent(1.2)  # the first wait
    guesser.send("/oper after-the-wait")
    assert refusal(guesser) == "! Wrong password"
    guesser.send("/oper too-soon-again")
    assert refusal(guesser) == "! Too many password attempts: try again in 2 seconds"


def test_each_device_keeps_its_own_token_until_revoked(pair: Pair) -> None:
    a, b = pair
    first = web_from(a, "192.0.2.20", "ann")
    first.say(f"/register {SECRET}")
    page_token = first.expect(type="identified")["token"]
    registered_everywhere(b, "ann")
    second = web_from(b, "192.0.2.21")
    second.say(f"/identify ann {SECRET}")  # a second device: the first keeps working
    laptop_token = second.expect(type="identified")["token"]
    assert laptop_token != page_token
    telnet = telnet_from(a, "192.0.2.22")
    telnet.send(f"/identify ann {SECRET}")
    telnet.expect("* You are identified as ann")
    telnet.send("/token")  # one more, for yet another device
    made = telnet.expect(lambda line: line.startswith("* Your token for ann: "))
    phone_token = made.split(": ", 1)[1].split(" ")[0]
    telnet.send("/token list")
    assert telnet.expect(lambda line: line.startswith("* Tokens of ann")) == (
        "* Tokens of ann (3 of 10; /token revoke ID|all):"
    )
    listed = [telnet.read_line() for _ in range(3)]
    pattern = r"#([0-9a-f]{6}) made [\d-]+ [\d:]+ UTC, last used [\d-]+ [\d:]+ UTC"
    ids = [re.fullmatch(pattern, line.strip()).group(1) for line in listed]  # type: ignore[union-attr]
    assert not any(token in "\n".join(telnet.lines) for token in (page_token, laptop_token))
    watcher = telnet_from(b, "192.0.2.99")
    for device in (first, second, telnet):
        device.close()
    for token in (page_token, laptop_token, phone_token):  # each proves it
        watcher.expect(lambda line: line.startswith("* ann left"))
        signed_in(b, "ann", token).close()
    watcher.expect(lambda line: line.startswith("* ann left"))

    owner = signed_in_when_free(a, "198.51.100.31", phone_token)
    owner.say(f"/token revoke {ids[0]}")
    assert owner.expect(type="system")["text"] == "Revoked 1 token of ann"
    owner.say("/token revoke 7")
    assert owner.expect(type="error")["text"] == "No token 7 for ann: /token list shows them"
    owner.say(f"/token revoke {ids[0]}")  # gone already
    assert owner.expect(type="error")["text"] == f"No token {ids[0]} for ann: /token list shows them"
    owner.say("/register a brand new password")  # a new password revokes every saved sign-in
    changed = owner.expect(type="identified")
    assert "Saved sign-ins revoked: 2." in changed["text"] and changed["token"] not in (laptop_token, phone_token)
    owner.say("/token revoke all")
    assert owner.expect(type="system")["text"] == "Revoked 1 token of ann"
    owner.close()
    watcher.expect(lambda line: line.startswith("* ann left"))
    for token in (page_token, laptop_token, changed["token"]):  # each told in words, in either process
        for server in (a, b):
            revoked = refused_sign_in(server, "ann", token)
            shown = revoked.expect(type="error", code="nick_refused")["text"]
            assert shown == "Nick refused: your saved sign-in for ann was revoked: /identify PASSWORD"
            revoked.close()


def test_bad_token_commands_get_a_clear_answer(pair: Pair) -> None:
    a, _ = pair
    guest = telnet_from(a, "192.0.2.98")
    guest.send("/token list")
    assert refusal(guest) == "! No registered nick proved: /register or /identify first"
    guest.send(f"/register {SECRET}")
    guest.expect(lambda line: line.startswith(f"* {guest.nick} is registered to you"))
    guest.send("/token list")
    assert guest.expect(lambda line: line.startswith("* ")) == f"* No tokens for {guest.nick}: /token makes one"
    for typed in ("/token frobnicate", "/token revoke", "/token list extra"):
        guest.send(typed)
        assert refusal(guest) == "! Usage: /token, /token list, /token revoke ID|all"
    guest.send("/who")  # and the connection goes on
    guest.expect(lambda line: " here: " in line)


def test_with_redis_away_no_password_is_checked_uncounted(start_server: Start, redis_server: RedisServer) -> None:
    server = start_server(**ENV, REDIS_URL=redis_server.url)
    guesser = telnet_from(server, "203.0.113.70")
    redis_server.stop()
    guesser.send(f"/oper {OPERATOR_PASSWORD}")
    assert refusal(guesser) == "! Passwords cannot be checked now (the shared store is away): try soon"
    guesser.send("/oper")  # and the connection goes on
    guesser.expect(lambda line: line.startswith("* Type the password on the next line"))
    assert "Traceback" not in server.output()


def test_a_token_stored_before_devices_had_their_own_keeps_working(
    start_server: Start, redis_server: RedisServer
) -> None:
    """A registration written by the earlier release (one token, inside its record) proves the
    nick with that token after the upgrade, in every process, and lists it like any other."""
    token = "earlier-release-token-of-ann-0123456789"
    earlier = {
        "nick": "ann",
        "mask": "ann",
        "password": None,
        "fingerprints": [],
        "token": hashlib.sha256(token.encode()).hexdigest(),
        "registered": time.time() - 100,
        "last_used": time.time() - 50,
    }
    with redis.Redis.from_url(redis_server.url, decode_responses=True) as client:
        client.hset("chat:{main}:mod:nicks", "ann", json.dumps(earlier))
    a, b = (start_server(**ENV, REDIS_URL=redis_server.url) for _ in range(2))
    watcher = telnet_from(b, "192.0.2.99")
    page = signed_in(a, "ann", token)
    page.say("/token list")
    listed = page.expect(lambda e: e["type"] == "system" and e["text"].startswith("Tokens of ann"))["text"]
    assert listed.startswith("Tokens of ann (1 of 10; /token revoke ID|all):\n#")
    page.close()
    watcher.expect(lambda line: line.startswith("* ann left"))
    signed_in(b, "ann", token)  # and in the other process, from the record it has been moved to

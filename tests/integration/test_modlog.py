"""/modlog by room: a room's operators read what happened in their room, without the addresses or
the removed text in it; server operators read everything. Single process and with Redis."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from support import DEFAULT_TIMEOUT, ServerProcess, WebUser
from websockets.exceptions import ConnectionClosed

Start = Callable[..., ServerProcess]
PASSWORD = "correct horse battery"
SECRET_TEXT = "my card is 4111 1111"
EVE_ADDRESS = "203.0.113.9"


@pytest.fixture(params=["single", "redis"])
def moderated(request: pytest.FixtureRequest, start_server: Start) -> ServerProcess:
    env = {"CHAT_OPERATOR_PASSWORD": PASSWORD, "CHAT_RATE": "0"}
    if request.param == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_server").url
    return start_server(**env)


def modlog(user: WebUser, command: str, until: Callable[[str], bool]) -> str:
    """The text of the /modlog reply, asked again until it shows what was just done (a record is
    written while the action is announced, and another process may write it)."""
    deadline = time.monotonic() + DEFAULT_TIMEOUT
    while True:
        user.say(command)
        text: str = user.expect(lambda e: e["type"] in ("system", "error"))["text"]
        if until(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_a_guest_who_makes_a_room_reads_only_that_rooms_records(moderated: ServerProcess) -> None:
    sysop = moderated.web("sysop")
    sysop.say(f"/oper {PASSWORD}")
    sysop.expect(type="moderation", nick="sysop")
    eve = moderated.web("eve", headers={"X-Forwarded-For": EVE_ADDRESS})
    ann = moderated.web("ann")
    ann.say(SECRET_TEXT)
    said: dict[str, Any] = ann.expect(type="message", nick="ann", text=SECRET_TEXT)
    sysop.say(f"/redact {said['id']}")
    sysop.expect(lambda e: "was removed by sysop" in e.get("text", ""), type="moderation")
    sysop.say("/ban eve 1h spamming")
    sysop.expect(lambda e: e.get("text", "").startswith("eve was banned by sysop"), type="moderation")
    with pytest.raises(ConnectionClosed):
        while True:
            eve.next()

    mallory = moderated.web("mallory")  # a guest: makes #x, and is its operator for the session
    mallory.say("/join #x")
    mallory.expect(type="room", room="#x")
    ann.say("/join #x")
    mallory.expect(type="enter", nick="ann", room="#x")  # founding is taken from the room's own order
    mallory.say("/mute ann 5m")
    mallory.expect(type="moderation", text="ann was muted by mallory: 5 minutes")

    own = modlog(mallory, "/modlog", lambda text: "muted" in text)
    assert own.startswith("Last 2 moderation actions in #x (UTC):")
    assert own.endswith("#x ann was muted by mallory: 5 minutes")
    for leak in (EVE_ADDRESS, SECRET_TEXT, "eve", "redact", "removed", "sysop"):
        assert leak not in own, f"a room's operator read {leak!r} from the server's log"
    mallory.say("/modlog #main")
    assert mallory.expect(type="error")["text"] == "Only operators of #main may read its /modlog"
    ann.say("/modlog")
    assert ann.expect(type="error")["text"] == "Only operators may read /modlog"

    everything = modlog(sysop, "/modlog", lambda text: "muted" in text)
    assert f"(from {EVE_ADDRESS}/32)" in everything
    assert f"a message from ann was removed by sysop: #{said['id']} (it said: {SECRET_TEXT})" in everything
    assert "#x ann was muted by mallory: 5 minutes" in everything
    one_room = modlog(sysop, "/modlog #x 1", lambda text: "muted" in text)
    assert one_room.split("\n")[1:] == [own.split("\n")[-1]]
    sysop.say("/modlog 0")
    assert sysop.expect(type="error")["text"] == "Usage: /modlog [#ROOM] [N] — N from 1 to 200"

"""An operator on the page removes a message, kicks and bans another page's user: the badge shows
who moderates, the message is gone from every page, the kicked and the banned read why, and a
banned page stays out instead of knocking again."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from chatpage import ChatPage
from playwright.sync_api import expect
from support import ServerProcess

pytestmark = pytest.mark.browser

OpenChat = Callable[..., ChatPage]
PASSWORD = "page operator pass"


def test_an_operator_kicks_then_bans_a_web_user_who_sees_why_and_stays_out(
    start_server: Callable[..., ServerProcess], open_chat: OpenChat
) -> None:
    server = start_server(CHAT_OPERATOR_PASSWORD=PASSWORD)
    op = open_chat(server, "op")
    victim = open_chat(server, "victim")
    op.say(f"/oper {PASSWORD}")
    expect(op.lines("op is now a server operator")).to_have_count(1)
    expect(victim.user("op").locator(".badge-op")).to_have_text("op")
    expect(op.lines(PASSWORD)).to_have_count(0)

    victim.say("buy cheap pills at example.com")
    spam = op.message("victim", "buy cheap pills")
    expect(spam).to_have_count(1)
    spam_id = spam.get_attribute("data-id")
    assert spam_id and f"#{spam_id}" in (spam.locator("time").get_attribute("title") or "")
    op.say(f"/redact {spam_id}")
    for page in (op, victim):
        expect(page.page.locator(f'#log > li[data-id="{spam_id}"] .removed')).to_have_text("message removed")
        expect(page.lines("buy cheap pills")).to_have_count(0)
    expect(victim.lines("a message from victim was removed by op")).to_have_count(1)

    victim.allow(r"WebSocket")  # the browser reports the sockets the server closes
    op.say("/kick victim spamming")
    expect(victim.lines("Disconnected: you were kicked (spamming)")).to_have_count(1)
    expect(victim.status).to_have_attribute("data-state", "reconnecting")  # a kick lets them back later
    expect(op.lines("victim was kicked by op: spamming")).to_have_count(1)

    victim.page.reload()  # a person does not wait the minute
    victim.expect_live()
    op.say("/ban victim 1h spamming again")
    expect(victim.lines("Connection refused: you are banned (spamming again; 1 hour left)")).to_have_count(1)
    expect(victim.status).to_have_attribute("data-state", "offline")
    expect(victim.page.locator("#status-text")).to_contain_text("banned")
    time.sleep(3)  # longer than any retry the page would make at once
    assert banned_refusals(server) == 0, "the banned page knocked again"

    expect(victim.page.locator("#status-text")).to_contain_text("spamming again; 1 hour left")
    victim.page.reload()  # even reloaded, the page is refused and says why
    expect(victim.status).to_have_attribute("data-state", "offline")
    expect(victim.page.locator("#status-text")).to_contain_text("banned")
    expect(victim.page.locator("#status-text")).to_contain_text("spamming again; 1 hour left")
    time.sleep(3)
    assert banned_refusals(server) == 1, "only the reload knocked"


def banned_refusals(server: ServerProcess) -> float:
    """How many connections the server turned away as banned (from its metrics)."""
    for line in httpx.get(f"{server.http_url}/metrics", timeout=5).text.splitlines():
        if line.startswith('chat_refused_connections_total{reason="banned"}'):
            return float(line.split()[-1])
    return 0

"""The page keeps a token for its registered nick: the next visit signs in with it, and once it
is revoked the page says so in words instead of a bare "registered nick"."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chatpage import ChatPage
from playwright.sync_api import expect
from support import ServerProcess, TcpUser

pytestmark = pytest.mark.browser

OpenChat = Callable[..., ChatPage]
SECRET = "page owner's secret"


def test_a_revoked_saved_sign_in_is_told_in_words(
    start_server: Callable[..., ServerProcess], open_chat: OpenChat
) -> None:
    server = start_server(CHAT_RATE="0")
    watcher = server.tcp(nick="watcher")
    ann = open_chat(server, "ann")
    ann.say(f"/register {SECRET}")
    expect(ann.lines("ann is registered to you")).to_have_count(1)
    revisit(ann, server, watcher)
    expect(ann.page.locator("#nick-current")).to_have_text("ann")  # signed in with the saved token
    ann.say("/token revoke all")
    expect(ann.lines("Revoked 1 token of ann")).to_have_count(1)
    revisit(ann, server, watcher)
    expect(ann.lines("your saved sign-in for ann was revoked: /identify PASSWORD")).to_have_count(1)
    expect(ann.lines("is a registered nick")).to_have_count(0)
    assert ann.nick().startswith("guest")
    ann.say(f"/identify {SECRET}")  # what it was told to do
    expect(ann.page.locator("#nick-current")).to_have_text("ann")


def revisit(chat: ChatPage, server: ServerProcess, watcher: TcpUser) -> None:
    """Leave the page for another of the server's (the server sees the nick go), then come back."""
    chat.allow(r"status of 404")  # the browser asks /healthz's origin for a favicon
    chat.page.goto(server.http_url + "/healthz")
    watcher.expect(lambda line: line.startswith("* ann left"))
    chat.page.goto(server.http_url)
    chat.expect_live()

"""The page on a desktop and on a 360 px phone, in light and dark; screenshots go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chatpage import PHONE, ChatPage
from playwright.sync_api import expect
from support import ServerProcess, TcpUser

pytestmark = pytest.mark.browser

OpenChat = Callable[..., ChatPage]


def converse(alice: ChatPage, terminal: TcpUser) -> None:
    """A short conversation with every kind of line, so screenshots show the whole style."""
    alice.say("Morning all! Release notes for 2.4 are at https://example.com/notes")
    expect(alice.message("alice", "Release notes")).to_have_count(1)
    terminal.send("morning alice, reading them now")
    terminal.send("/me pours a coffee")
    expect(alice.lines("pours a coffee")).to_have_count(1)
    alice.say("/msg dave could you review the deploy script?")
    alice.say("/nick")  # a usage error, styled as one
    expect(alice.lines("Usage: /nick NAME")).to_have_count(1)


def test_desktop_layout(start_server: Callable[..., ServerProcess], open_chat: OpenChat) -> None:
    server = start_server(CHAT_WEB_HISTORY="100")  # alice arrives to some history, comings and goings folded
    erin, frank = server.tcp(nick="erin"), server.tcp(nick="frank")
    erin.send("is the 2.4 release out yet?")
    erin.close()
    frank.close()
    bob = open_chat(server, "bob")
    terminal = server.tcp(nick="dave")
    alice = open_chat(server, "alice", viewport={"width": 1000, "height": 600})
    converse(alice, terminal)
    bob.say("alice: the coffee machine is fixed btw")
    expect(alice.message("bob", "coffee machine")).to_have_count(1)
    expect(alice.message("bob", "coffee machine")).to_have_class("item item-message mention")
    expect(alice.page.locator("#log > li.presence-run summary").last).to_have_text("2 people joined, 2 left")
    expect(alice.page.locator("#users")).to_be_visible()
    expect(alice.page.locator("#users-toggle")).to_be_hidden()
    for scheme in ("light", "dark"):
        alice.page.emulate_media(color_scheme=scheme)
        alice.screenshot(f"desktop-{scheme}")


def test_phone_layout_keeps_the_input_visible(server: ServerProcess, open_chat: OpenChat) -> None:
    terminal = server.tcp(nick="dave")
    alice = open_chat(server, "alice", viewport=PHONE, is_mobile=True, has_touch=True)
    converse(alice, terminal)
    page = alice.page

    expect(alice.input).to_be_in_viewport(ratio=1)
    expect(page.get_by_role("button", name="Send")).to_be_in_viewport(ratio=1)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    for scheme in ("dark", "light"):
        page.emulate_media(color_scheme=scheme)
        alice.screenshot(f"phone-{scheme}")

    # The people panel is a drawer on a phone, opened and closed from the keyboard too.
    toggle = page.locator("#users-toggle")
    expect(page.locator("#users")).to_be_hidden()
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    alice.expect_user("dave", "telnet")
    alice.screenshot("phone-light-people")
    page.keyboard.press("Escape")
    expect(page.locator("#users")).to_be_hidden()

    # An on-screen keyboard takes half the height: the input stays above it.
    page.set_viewport_size({"width": PHONE["width"], "height": 380})
    alice.input.focus()
    expect(alice.input).to_be_in_viewport(ratio=1)
    expect(alice.message("dave", "pours a coffee").or_(alice.lines("Usage: /nick NAME")).first).to_be_visible()

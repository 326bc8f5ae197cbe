"""The page where it used to be rough: the live marker, a server it cannot reach, folded
comings and goings, pastes, and the people drawer on a 390 px phone."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from chatpage import ChatPage
from playwright.sync_api import Browser, WebSocketRoute, expect
from support import ServerProcess

pytestmark = pytest.mark.browser

OpenChat = Callable[..., ChatPage]
WS_URL = re.compile(r"/ws(\?.*)?$")
PHONE_390 = {"width": 390, "height": 760}
HISTORY = {"CHAT_WEB_HISTORY": "100"}


class Gate:
    """Between the page and the server: lets sockets through or closes them, and can cut one."""

    def __init__(self, open_: bool = True) -> None:
        self.open = open_
        self.page_side: WebSocketRoute | None = None

    def route(self, ws: WebSocketRoute) -> None:
        if not self.open:
            ws.close(code=4999, reason="test: blocked")
            return
        server = ws.connect_to_server()
        self.page_side = ws
        ws.on_close(lambda code, reason: server.close(code=code, reason=reason or ""))
        server.on_close(lambda code, reason: ws.close(code=code, reason=reason or ""))

    def cut(self) -> None:
        assert self.page_side is not None
        self.page_side.close(code=4999, reason="test: cut")


def test_live_marker_is_a_plain_divider_shown_once(
    start_server: Callable[..., ServerProcess], open_chat: OpenChat
) -> None:
    server = start_server(**HISTORY)
    terminal = server.tcp(nick="bob")
    terminal.send("said before you came")
    gate = Gate()
    chat = open_chat(server, "alice", on_page=lambda page: page.route_web_socket(WS_URL, gate.route))
    expect(chat.page.locator("#log > li.divider.live")).to_have_text("Live")
    expect(chat.page.locator("#log")).not_to_contain_text("UTC")  # the page shows local times

    gate.cut()  # a blip; something is said meanwhile, so the reconnect replays it
    terminal.send("said while you were away")
    expect(chat.message("bob", "said while you were away")).to_have_count(1, timeout=20_000)
    expect(chat.lines("Reconnected")).to_have_count(1)
    expect(chat.page.locator("#log > li.divider.live")).to_have_count(1)


def test_a_page_that_cannot_connect_says_why_and_when_it_tries_again(server: ServerProcess, browser: Browser) -> None:
    gate = Gate(open_=False)
    context = browser.new_context(viewport={"width": 1000, "height": 640})
    chat = ChatPage(context.new_page())
    chat.allow(r"WebSocket connection to .* failed")
    try:
        chat.page.route_web_socket(WS_URL, gate.route)
        chat.page.goto(server.http_url)
        panel = chat.page.locator("#unreachable")
        expect(panel).to_be_visible()
        expect(panel).to_contain_text("The server is running, but the live connection")
        expect(panel).to_contain_text(re.compile(r"Trying again in \d+ s\."))
        expect(chat.page.locator("#nick-button")).to_be_hidden()  # no "…" nick for nobody
        chat.screenshot("desktop-unreachable")

        chat.page.route("**/healthz", lambda route: route.abort())  # now the server seems gone too
        expect(panel).to_contain_text("The server did not answer", timeout=20_000)

        gate.open = True
        chat.page.get_by_role("button", name="Try now", exact=True).click()
        chat.expect_live()
        expect(panel).to_be_hidden()
        expect(chat.page.locator("#nick-button")).to_be_visible()
    finally:
        problems = [p for p in chat.problems if "healthz" not in p and "Failed to load resource" not in p]
        context.close()
    assert not problems


def test_comings_and_goings_fold_into_one_expandable_line(
    start_server: Callable[..., ServerProcess], open_chat: OpenChat
) -> None:
    server = start_server(**HISTORY)
    talker = server.tcp(nick="talker")
    visitors = [server.tcp(nick=f"visitor{n}") for n in range(4)]
    for visitor in visitors[:2]:
        visitor.close()
    talker.expect(lambda line: line.startswith("* visitor1 left"))
    talker.send("the conversation")
    chat = open_chat(server, "alice")
    run = chat.page.locator("#log > li.presence-run").first
    expect(run.locator("summary")).to_have_text("5 people joined, 2 left")  # talker and four visitors
    expect(run.get_by_text("visitor3 joined")).to_be_hidden()
    expect(chat.message("talker", "the conversation")).to_be_visible()
    run.locator("summary").click()
    expect(run.locator(".run-list > li")).to_have_count(12)  # with the five renames from guest names
    expect(run.get_by_text("visitor3")).to_be_visible()

    for visitor in visitors[2:]:  # live comings and goings fold too
        visitor.close()
    live_run = chat.page.locator("#log > li.presence-run").last
    expect(live_run.locator("summary")).to_have_text("2 people left")


def paste_into(chat: ChatPage, text: str) -> None:
    """Paste ``text`` into the composer as a clipboard paste does."""
    chat.input.evaluate(
        """(input, text) => {
            const data = new DataTransfer();
            data.setData("text/plain", text);
            input.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
        }""",
        text,
    )


def test_a_multi_line_paste_is_sent_as_lines_within_the_allowance(server: ServerProcess, open_chat: OpenChat) -> None:
    terminal = server.tcp(nick="bob")
    chat = open_chat(server, "alice")
    paste = "\n".join(f"pasted line {n}" for n in range(8))
    chat.input.fill("see: ")
    paste_into(chat, paste)
    expected = ["[alice] see: pasted line 0", *(f"[alice] pasted line {n}" for n in range(1, 8))]
    assert [terminal.expect(lambda line: line.startswith("[alice]")) for _ in range(8)] == expected
    expect(chat.page.locator("#composer-hint")).to_have_text("Sent 8 pasted lines.")
    expect(chat.input).to_have_value("")
    expect(chat.page.locator("#log .item-error")).to_have_count(0)

    too_long = "\n".join(f"line {n}" for n in range(30))
    paste_into(chat, too_long)
    expect(chat.page.locator("#composer-hint")).to_contain_text("That paste is 30 lines")
    expect(chat.page.locator("#composer-hint")).to_contain_text("nothing was sent")
    assert not [line for line in terminal.silent(0.5) if line.startswith("[alice]")]


def test_phone_people_drawer_has_big_rows_a_close_button_and_keeps_focus(
    server: ServerProcess, open_chat: OpenChat
) -> None:
    dave, erin = server.tcp(nick="dave"), server.tcp(nick="erin")
    alice = open_chat(server, "alice", viewport=PHONE_390, is_mobile=True, has_touch=True)
    page = alice.page
    toggle = page.locator("#users-toggle")
    toggle.click()
    close = page.get_by_role("button", name="Close the list of rooms and people")
    expect(close).to_be_visible()
    expect(close).to_be_focused()
    alice.expect_user("erin", "telnet")
    expect(page.locator("#users")).to_be_in_viewport(ratio=1)  # slid all the way in
    for target in [close, *page.locator("#user-list > li").all()]:
        box = target.bounding_box()
        assert box is not None and box["width"] >= 44 and box["height"] >= 44, box
    alice.screenshot("phone-390-people")

    # Tab never leaves the open drawer.
    for _ in range(6):
        page.keyboard.press("Tab")
        assert page.evaluate("document.getElementById('users').contains(document.activeElement)")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.getElementById('users').contains(document.activeElement)")

    close.click()
    expect(page.locator("#users")).to_be_hidden()
    expect(toggle).to_be_focused()

    toggle.click()  # a tap anywhere on a row picks that person
    page.locator('#user-list > li[data-nick="erin"]').click(position={"x": 200, "y": 30})
    expect(alice.input).to_have_value("/msg erin ")
    expect(alice.input).to_be_focused()
    expect(page.locator("#users")).to_be_hidden()
    alice.input.press_sequentially("are you there?")
    alice.input.press("Enter")
    assert erin.expect(lambda line: line.startswith("[alice")) == "[alice → you] are you there?"
    assert not [line for line in dave.silent(0.3) if "are you there" in line]

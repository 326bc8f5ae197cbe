"""The chat page in a real browser: people on two pages and a terminal talk to each other."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from chatpage import ChatPage
from playwright.sync_api import expect
from support import ServerProcess

pytestmark = pytest.mark.browser

OpenChat = Callable[..., ChatPage]


def test_two_pages_and_a_terminal_chat_in_all_directions(server: ServerProcess, open_chat: OpenChat) -> None:
    alice = open_chat(server, "alice")
    bob = open_chat(server, "bob")
    carol = server.tcp(nick="carol")

    alice.say("hello from alice")
    expect(bob.message("alice", "hello from alice")).to_have_count(1)
    carol.expect("[alice] hello from alice")
    own = alice.message("alice", "hello from alice")
    expect(own).to_have_count(1)
    expect(own).to_have_class(re.compile(r"\bown\b"))
    expect(bob.message("alice", "hello from alice")).not_to_have_class(re.compile(r"\bown\b"))

    bob.say("/me waves at everyone")
    expect(alice.page.locator("#log > li.item-action", has_text="waves at everyone")).to_have_count(1)
    carol.expect("* [bob] waves at everyone")

    carol.send("greetings from the terminal")
    for page in (alice, bob):
        expect(page.message("carol", "greetings from the terminal")).to_have_count(1)

    for page in (alice, bob):
        page.expect_user("alice", "web")
        page.expect_user("bob", "web")
        page.expect_user("carol", "telnet")
        expect(page.page.locator("#users-count")).to_have_text("3")
    # The same nick has the same colour for every viewer.
    colour = alice.message("alice", "hello from alice").locator(".nick").get_attribute("class")
    assert colour == bob.message("alice", "hello from alice").locator(".nick").get_attribute("class")

    carol.send("/quit")
    for page in (alice, bob):
        expect(page.user("carol")).to_have_count(0)
        expect(page.lines("carol left")).to_have_count(1)
    alice.screenshot("desktop-three-way")


def test_markup_in_messages_is_shown_as_text(server: ServerProcess, open_chat: OpenChat) -> None:
    alice = open_chat(server, "alice")
    bob = open_chat(server, "bob")
    terminal = server.tcp(nick="mallory")
    payload = "<img src=x onerror=alert(1)> and <script>alert(2)</script>"

    alice.say(payload)
    terminal.send(f"{payload} again")
    for page in (alice, bob):
        expect(page.message("alice", payload)).to_have_count(1)
        expect(page.message("mallory", f"{payload} again")).to_have_count(1)
        assert page.page.locator("#log img, #log script").count() == 0
    # An injected <img> would have tried to load /x.
    assert all("/x" not in request for request in bob.page.evaluate("performance.getEntries().map(e => e.name)"))


def test_a_taken_nick_is_refused_with_the_reason(server: ServerProcess, open_chat: OpenChat) -> None:
    alice = open_chat(server, "alice")
    bob = open_chat(server, "bob")

    bob.page.get_by_role("button", name=re.compile("Your nick")).focus()
    bob.page.keyboard.press("Enter")  # keyboard only, as for every control on the page
    nick_input = bob.page.get_by_label("New nick")
    expect(nick_input).to_be_focused()
    nick_input.fill("alice")
    nick_input.press("Enter")
    expect(bob.page.locator("#nick-error")).to_contain_text("'alice' is already taken")
    assert bob.nick() == "bob"
    bob.screenshot("desktop-nick-refused")

    nick_input.fill("bobby")
    nick_input.press("Enter")
    expect(bob.page.locator("#nick-current")).to_have_text("bobby")
    expect(bob.page.locator("#nick-error")).to_be_empty()
    alice.expect_user("bobby", "web")
    expect(alice.user("bob")).to_have_count(0)
    expect(alice.lines("bob is now known as bobby")).to_have_count(1)


def test_keyboard_composer_history_commands_and_completion(server: ServerProcess, open_chat: OpenChat) -> None:
    chat = open_chat(server, "alice", viewport={"width": 1100, "height": 700})
    terminal = server.tcp(nick="bartholomew")
    chat.expect_user("bartholomew", "telnet")

    chat.say("first line")
    chat.say("second line")
    chat.input.press("ArrowUp")
    expect(chat.input).to_have_value("second line")
    chat.input.press("ArrowUp")
    expect(chat.input).to_have_value("first line")
    chat.input.press("ArrowDown")
    chat.input.press("ArrowDown")
    expect(chat.input).to_have_value("")

    chat.input.type("/m")
    suggestions = chat.page.get_by_role("listbox", name="Commands")
    expect(suggestions.get_by_role("option")).to_have_count(2)  # /me and /msg
    chat.screenshot("desktop-commands")
    chat.input.press("ArrowDown")
    chat.input.press("ArrowDown")
    chat.input.press("Tab")
    expect(chat.input).to_have_value("/msg ")
    expect(suggestions).to_be_hidden()
    chat.input.type("bar")
    chat.input.press("Tab")
    expect(chat.input).to_have_value("/msg bartholomew ")
    chat.input.type("psst")
    chat.input.press("Enter")
    expect(chat.page.locator("#log > li.item-private", has_text="psst")).to_have_count(1)
    terminal.expect("[alice → you] psst")

    limit = int(chat.page.locator("#app").get_attribute("data-max-message"))
    chat.input.fill("x" * (limit - 10))
    expect(chat.page.locator("#counter")).to_have_text("10")
    chat.input.fill("x" * (limit + 1))
    expect(chat.page.locator("#counter")).to_have_text("-1")
    chat.input.press("Enter")
    expect(chat.input).to_have_value("x" * (limit + 1))  # too long: kept, not sent


def test_new_messages_wait_below_a_jump_button_while_reading_back(
    start_server: Callable[..., ServerProcess], open_chat: OpenChat
) -> None:
    server = start_server(CHAT_BURST="50", CHAT_RATE="50")
    chat = open_chat(server, "alice", viewport={"width": 900, "height": 420})
    for n in range(25):
        chat.say(f"filler {n}")
    expect(chat.message("alice", "filler 24")).to_have_count(1)
    log = chat.page.locator("#log-scroll")
    log.evaluate("log => { log.scrollTop = 0; }")

    terminal = server.tcp(nick="bob")
    terminal.send("one")
    terminal.send("two")
    jump = chat.page.locator("#jump")
    expect(jump).to_have_text("2 new messages ↓")
    assert log.evaluate("log => log.scrollTop") == 0  # the view stayed where the reader was
    chat.screenshot("desktop-jump")
    jump.click()
    expect(jump).to_be_hidden()
    expect(chat.message("bob", "two")).to_be_in_viewport()


def test_unread_count_shows_in_the_title_while_the_tab_is_hidden(server: ServerProcess, open_chat: OpenChat) -> None:
    chat = open_chat(server, "alice")
    terminal = server.tcp(nick="bob")
    expect(chat.page).to_have_title("Chat")
    hide = "hidden => { Object.defineProperty(document, 'hidden', {value: hidden, configurable: true});"
    set_hidden = hide + " document.dispatchEvent(new Event('visibilitychange')); }"
    chat.page.evaluate(set_hidden, True)
    terminal.send("are you there?")
    terminal.send("/me knocks")
    expect(chat.page).to_have_title("(2) Chat")
    chat.page.evaluate(set_hidden, False)
    expect(chat.page).to_have_title("Chat")


def test_the_csp_blocks_inline_code_and_the_guard_notices(server: ServerProcess, open_chat: OpenChat) -> None:
    """The CSP the page lives with really refuses inline code, and these tests would see it."""
    chat = open_chat(server)
    chat.page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.__inlineRan = true";
            document.body.append(script);
        }"""
    )
    for _ in range(100):  # the report arrives asynchronously, within a few turns of the page's loop
        if any("CSP violation: script-src" in problem for problem in chat.problems):
            break
        chat.page.wait_for_timeout(50)
    assert any("CSP violation: script-src" in problem for problem in chat.problems), chat.problems
    assert chat.page.evaluate("window.__inlineRan === undefined")
    chat.problems.clear()  # provoked on purpose

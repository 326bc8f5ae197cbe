"""A connection a user can trust: the page notices a drop, says so, comes back by itself and
never shows an event twice."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from chatpage import ChatPage
from playwright.sync_api import expect
from socketcontrol import SocketControl
from support import ServerProcess

from app.domain.goodbye import Goodbye

pytestmark = pytest.mark.browser

OpenChat = Callable[..., ChatPage]
WS_URL = re.compile(r"/ws(\?.*)?$")
REFUSED_SOCKET = r"WebSocket connection to .* failed"
RECONNECT_TIMEOUT_MS = 20_000


def test_page_reconnects_by_itself_after_a_server_restart(server: ServerProcess, open_chat: OpenChat) -> None:
    chat = open_chat(server, "alice")
    chat.allow(REFUSED_SOCKET)  # the browser logs each refused attempt while the server is down
    chat.say("before the restart")

    server.stop()
    expect(chat.status).to_have_attribute("data-state", "reconnecting")
    expect(chat.status).to_contain_text(re.compile(r"Reconnecting in \d+ s"))
    expect(chat.lines("server restarting")).to_have_count(1)
    expect(chat.page.locator("#send")).to_be_disabled()
    chat.screenshot("desktop-reconnecting")

    server.start()
    expect(chat.status).to_have_attribute("data-state", "live", timeout=RECONNECT_TIMEOUT_MS)
    expect(chat.page.locator("#nick-current")).to_have_text("alice")
    expect(chat.lines("Reconnected")).to_have_count(1)

    terminal = server.tcp(nick="bob")
    terminal.send("after the restart")
    expect(chat.message("bob", "after the restart")).to_have_count(1)
    chat.say("glad to be back")
    terminal.expect("[alice] glad to be back")
    expect(chat.message("alice", "before the restart")).to_have_count(1)


def test_reconnect_resumes_by_nick_and_last_id_and_drops_replayed_events(
    server: ServerProcess, open_chat: OpenChat
) -> None:
    control = SocketControl()
    chat = open_chat(server, "alice", on_page=lambda page: page.route_web_socket(WS_URL, control.route))
    terminal = server.tcp(nick="bob")
    terminal.send("first")
    terminal.send("second")
    expect(chat.message("bob", "second")).to_have_count(1)
    seen = [event for event in control.received if event["type"] == "message"]

    last_id = control.max_id()
    # A server replaying what the page already has, and saying some older events are gone.
    gap = {"type": "gap", "missed": 3, "text": "3 earlier messages are no longer available"}
    control.after_welcome = [*({**event, "history": True} for event in seen), gap]
    control.cut()
    expect(chat.status).not_to_have_attribute("data-state", "live")
    expect(chat.status).to_have_attribute("data-state", "live", timeout=RECONNECT_TIMEOUT_MS)
    expect(chat.lines("Reconnected")).to_have_count(1)

    query = parse_qs(urlsplit(control.urls[-1]).query)
    assert query == {"nick": ["alice"], "since": [str(last_id)]}
    terminal.send("third")
    expect(chat.message("bob", "third")).to_have_count(1)
    for text in ("first", "second"):
        expect(chat.message("bob", text)).to_have_count(1)
    expect(chat.lines("3 earlier messages are no longer available")).to_have_count(1)


def test_quit_leaves_the_page_offline_until_the_user_rejoins(server: ServerProcess, open_chat: OpenChat) -> None:
    chat = open_chat(server, "alice")
    terminal = server.tcp(nick="bob")
    chat.say("/quit")
    terminal.expect("* alice left")
    expect(chat.status).to_have_attribute("data-state", "offline")
    expect(chat.status).to_contain_text("You left the room")
    assert terminal.silent(1.2) == []  # and it stays out: a reconnect would come within 1 s
    chat.page.get_by_role("button", name="Rejoin").click()
    chat.expect_live()
    terminal.expect("* alice joined (web)")


def test_nick_held_by_an_unnoticed_old_connection_comes_back_when_it_leaves(
    server: ServerProcess, open_chat: OpenChat
) -> None:
    control = SocketControl()
    chat = open_chat(server, "alice", on_page=lambda page: page.route_web_socket(WS_URL, control.route))
    terminal = server.tcp(nick="bob")
    ghost = control.cut(server_notices=False)
    expect(chat.lines("Reconnected")).to_have_count(1, timeout=RECONNECT_TIMEOUT_MS)
    expect(chat.lines("You will get alice back")).to_have_count(1)
    expect(chat.page.locator("#nick-current")).to_have_text(re.compile(r"^guest\d+$"))

    ghost.send(json.dumps({"type": "say", "text": "/quit"}))  # the old connection finally goes
    terminal.expect("* alice left")
    expect(chat.page.locator("#nick-current")).to_have_text("alice")
    terminal.expect(re.compile(r"^\* guest\d+ is now known as alice$").match)


def test_messages_sent_while_disconnected_appear_exactly_once(server: ServerProcess, open_chat: OpenChat) -> None:
    control = SocketControl()
    chat = open_chat(server, "alice", on_page=lambda page: page.route_web_socket(WS_URL, control.route))
    terminal = server.tcp(nick="bob")
    terminal.send("before the drop")
    expect(chat.message("bob", "before the drop")).to_have_count(1)

    control.refuse = True
    control.cut()
    expect(chat.status).to_have_attribute("data-state", "reconnecting")
    terminal.send("while you were away")
    terminal.send("and this too")
    terminal.silent(0.2)

    control.refuse = False
    chat.page.get_by_role("button", name="Retry now").click()
    expect(chat.status).to_have_attribute("data-state", "live")
    for text in ("before the drop", "while you were away", "and this too"):
        expect(chat.message("bob", text)).to_have_count(1, timeout=2000)


def test_a_page_cut_as_too_slow_comes_back_at_once_with_nothing_lost_or_doubled(
    start_server: Callable[..., ServerProcess], open_chat: OpenChat
) -> None:
    server = start_server(CHAT_RATE="0", CHAT_HISTORY="10000")
    record_closes = """() => {
        window.__closes = [];
        const Native = window.WebSocket;
        window.WebSocket = class extends Native {
          constructor(...args) {
            super(...args);
            this.addEventListener("close", (close) => window.__closes.push(close.code));
          }
        };
    }"""
    chat = open_chat(server, "alice", on_page=lambda page: page.add_init_script(f"({record_closes})()"))
    terminal = server.tcp(nick="bob")
    lines = 3000
    padding = "x" * 1900

    def paste() -> None:
        time.sleep(0.5)  # once the page is busy
        terminal.send_raw(b"".join(f"m{n} {padding}\r\n".encode() for n in range(lines)))

    pasting = threading.Thread(target=paste)
    pasting.start()
    # The page's main thread is busy (a long task), so the browser stops taking what the server sends.
    chat.page.evaluate("() => { const end = Date.now() + 5000; while (Date.now() < end); }")
    pasting.join()
    terminal.expect("* alice left (too slow)", timeout=10)
    terminal.expect("* alice joined (web)", timeout=30)  # once the page has read all that came before
    chat.expect_live()
    assert chat.page.evaluate("window.__closes") == [Goodbye.TOO_SLOW.code]
    expect(chat.lines("You fell behind for a moment; caught up")).to_have_count(1)
    expect(chat.message("bob", f"m{lines - 1} ")).to_have_count(1, timeout=RECONNECT_TIMEOUT_MS)
    shown = chat.page.locator("#log > li.item-message .text").all_inner_texts()
    numbers = [int(text.split()[0][1:]) for text in shown if text.startswith("m")]
    assert numbers == list(range(lines - len(numbers), lines)), "the page shows each message once, in order"
    assert chat.page.evaluate("document.querySelectorAll('#log > li').length") <= 1500  # the log's own cap

"""Browser fixtures: Debian's Chromium driven by Playwright, one browser context per user.

A test fails if any of its pages logged a console error, threw, opened a dialog or violated the
CSP (see ChatPage).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from chatpage import DESKTOP, ChatPage
from playwright.sync_api import Browser, Page, expect, sync_playwright
from support import ServerProcess, missing

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXPECT_TIMEOUT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium per test module. Not per session: Playwright's sync API keeps an event loop
    running on the main thread while it is open, which would break any later test that runs
    its own loop with asyncio.run()."""
    if not CHROMIUM.exists():
        missing("browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def open_chat(browser: Browser) -> Iterator[Callable[..., ChatPage]]:
    """Open the chat page in a fresh context (its own storage), optionally under a remembered nick."""
    opened: list[ChatPage] = []

    def open_page(
        server: ServerProcess,
        nick: str | None = None,
        on_page: Callable[[Page], object] | None = None,
        path: str = "",
        **context_options: Any,
    ) -> ChatPage:
        """``on_page`` runs before the page loads (e.g. to route its WebSocket); ``path`` is
        where the page is opened (e.g. a room's link, ``/r/dev``)."""
        context = browser.new_context(**{"viewport": DESKTOP, "color_scheme": "light", **context_options})
        if nick:
            context.add_init_script(f"localStorage.setItem('chat.nick', {json.dumps(nick)})")
        chat = ChatPage(context.new_page())
        opened.append(chat)
        if on_page:
            on_page(chat.page)
        chat.page.goto(server.http_url + path)
        chat.expect_live()
        if nick:
            expect(chat.page.locator("#nick-current")).to_have_text(nick)
        return chat

    yield open_page
    problems = [problem for chat in opened for problem in chat.problems]
    for chat in opened:
        chat.page.context.close()
    assert not problems, "the page reported problems:\n" + "\n".join(problems)

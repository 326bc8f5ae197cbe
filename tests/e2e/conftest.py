"""Browser fixtures: Debian's Chromium driven by Playwright, one browser context per user.

Every page records console errors, uncaught exceptions and CSP violations; a test fails if any
occurred (tests that cut the connection on purpose allow the browser's own connection errors).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from support import ROOT, ServerProcess

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
ARTIFACTS = ROOT / "test-artifacts"
DESKTOP = {"width": 1100, "height": 700}
PHONE = {"width": 360, "height": 740}
EXPECT_TIMEOUT_MS = 10_000

REPORT_CSP = """
document.addEventListener("securitypolicyviolation", (e) =>
  window.__reportCsp(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));
"""


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Debian's Chromium at /usr/bin/chromium (apt-get install chromium)")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class ChatPage:
    """One person using the chat page, with what a person would look at and do."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.problems: list[str] = []
        self.allowed: list[re.Pattern[str]] = []
        page.on("console", lambda message: message.type == "error" and self.problem(f"console: {message.text}"))
        page.on("pageerror", lambda error: self.problem(f"uncaught: {error}"))
        page.on("dialog", lambda dialog: self.problem(f"dialog opened: {dialog.message}"))
        page.expose_function("__reportCsp", lambda text: self.problem(f"CSP violation: {text}"))
        page.add_init_script(REPORT_CSP)

    def problem(self, text: str) -> None:
        if not any(pattern.search(text) for pattern in self.allowed):
            self.problems.append(text)

    def allow(self, pattern: str) -> None:
        """Tolerate console errors matching ``pattern`` (e.g. a refused WebSocket while the server is down)."""
        self.allowed.append(re.compile(pattern))

    # -- looking ------------------------------------------------------------------------------

    @property
    def status(self):
        return self.page.locator("#status")

    @property
    def input(self):
        return self.page.locator("#input")

    def nick(self) -> str:
        return self.page.locator("#nick-current").inner_text()

    def lines(self, text: str):
        """Log items containing ``text``."""
        return self.page.locator("#log > li", has_text=text)

    def message(self, nick: str, text: str):
        """The log's message items from ``nick`` saying ``text``."""
        return (
            self.page.locator("#log > li.item-message")
            .filter(has=self.page.locator(".nick", has_text=re.compile(f"^{re.escape(nick)}$")))
            .filter(has_text=text)
        )

    def user(self, nick: str):
        return self.page.locator(f'#user-list > li[data-nick="{nick}"]')

    def expect_live(self) -> None:
        expect(self.status).to_have_attribute("data-state", "live")

    def expect_user(self, nick: str, badge: str) -> None:
        expect(self.user(nick).locator(".badge")).to_have_text(badge)

    # -- doing --------------------------------------------------------------------------------

    def say(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")
        expect(self.input).to_have_value("")

    def screenshot(self, name: str) -> Path:
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path


@pytest.fixture
def open_chat(browser: Browser) -> Iterator[Callable[..., ChatPage]]:
    """Open the chat page in a fresh context (its own storage), optionally under a remembered nick."""
    opened: list[ChatPage] = []

    def open_page(server: ServerProcess, nick: str | None = None, **context_options: Any) -> ChatPage:
        context = browser.new_context(**{"viewport": DESKTOP, "color_scheme": "light", **context_options})
        if nick:
            context.add_init_script(f"localStorage.setItem('chat.nick', {json.dumps(nick)})")
        chat = ChatPage(context.new_page())
        opened.append(chat)
        chat.page.goto(server.http_url)
        chat.expect_live()
        if nick:
            expect(chat.page.locator("#nick-current")).to_have_text(nick)
        return chat

    yield open_page
    problems = [problem for chat in opened for problem in chat.problems]
    for chat in opened:
        chat.page.context.close()
    assert not problems, "the page reported problems:\n" + "\n".join(problems)

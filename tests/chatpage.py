"""The chat page as a person uses it, plus the problems it must never report."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Locator, Page, expect
from support import ROOT

ARTIFACTS = ROOT / "test-artifacts"
DESKTOP = {"width": 1100, "height": 700}
PHONE = {"width": 360, "height": 740}

REPORT_CSP = """
document.addEventListener("securitypolicyviolation", (e) =>
  window.__reportCsp(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`));
"""


class ChatPage:
    """One person using the chat page, with what a person would look at and do.

    It records console errors, uncaught exceptions, dialogs and CSP violations as ``problems``;
    tests that cut the connection on purpose ``allow`` the browser's own connection errors.
    """

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
    def status(self) -> Locator:
        return self.page.locator("#status")

    @property
    def input(self) -> Locator:
        return self.page.locator("#input")

    def nick(self) -> str:
        return self.page.locator("#nick-current").inner_text()

    def lines(self, text: str) -> Locator:
        """Log items containing ``text``."""
        return self.page.locator("#log > li", has_text=text)

    def message(self, nick: str, text: str) -> Locator:
        """The log's message items from ``nick`` saying ``text``."""
        return (
            self.page.locator("#log > li.item-message")
            .filter(has=self.page.locator(".nick", has_text=re.compile(f"^{re.escape(nick)}$")))
            .filter(has_text=text)
        )

    def user(self, nick: str) -> Locator:
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
        self.page.screenshot(path=str(path), animations="disabled")
        return path

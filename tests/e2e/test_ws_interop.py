"""Interop with Chromium's own WebSocket, on both paths (``python -m app``'s lean door and
``uvicorn app.asgi:app``): a long message of multibyte text, pings answered while idle, and the
close handshake started by the browser and by the server."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Browser
from support import ServerProcess

pytestmark = pytest.mark.browser

TEXT = "ünïcödé 😀 → " * 1200 + "end"  # about 25 KB of UTF-8, with characters of two, three and four bytes
SETTINGS = {"CHAT_MAX_MESSAGE": "20000", "CHAT_WS_PING": "0.3", "CHAT_WS_PING_TIMEOUT": "1"}

SESSION = """async ([url, text]) => {
  const seen = {};
  const open = (nick) => new Promise((resolve, reject) => {
    const socket = new WebSocket(`${url}?nick=${nick}`);
    const events = [];
    socket.onmessage = (m) => events.push(...[JSON.parse(m.data)].flat());
    socket.onerror = () => reject(new Error("WebSocket error"));
    socket.onopen = () => resolve({ socket, events });
  });
  const until = async (check) => {
    for (let i = 0; i < 200; i++) {
      const found = check();
      if (found) return found;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error("timed out");
  };
  const closed = (socket) => new Promise((resolve) =>
    socket.addEventListener("close", (e) => resolve({ code: e.code, reason: e.reason, clean: e.wasClean })));

  const ann = await open("ann");
  await new Promise((r) => setTimeout(r, 1500));  // several keepalive pings: Chromium answers them
  ann.socket.send(JSON.stringify({ type: "say", text }));
  const own = await until(() => ann.events.find((e) => e.type === "message" && e.self));
  seen.echoed = own.text === text;
  const annClosed = closed(ann.socket);
  ann.socket.close(1000, "bye from chromium");
  seen.browserClose = await annClosed;

  const bob = await open("bob");
  const bobClosed = closed(bob.socket);
  bob.socket.send(JSON.stringify({ type: "say", text: "/quit" }));
  seen.serverClose = await bobClosed;
  return seen;
}"""


@pytest.fixture(params=["lean", "asgi"])
def either_path(request: pytest.FixtureRequest, start_server: Callable[..., ServerProcess], launch) -> ServerProcess:
    if request.param == "lean":
        return start_server(**SETTINGS)
    uvicorn = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "app.asgi:app"]
    return launch(uvicorn, **SETTINGS)


def test_chromium_speaks_to_the_websocket_both_ways(browser: Browser, either_path: ServerProcess) -> None:
    server = either_path
    terminal = server.tcp(nick="term")
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(server.http_url + "/healthz")  # any page of ours: its origin is allowed
        seen: dict[str, Any] = page.evaluate(SESSION, [server.ws_url, TEXT])
    finally:
        context.close()
    assert seen["echoed"] is True
    assert terminal.expect(lambda line: line.startswith("[ann]")) == f"[ann] {TEXT}"
    assert seen["browserClose"] == {"code": 1000, "reason": "bye from chromium", "clean": True}
    assert seen["serverClose"] == {"code": 1000, "reason": "quit", "clean": True}
    terminal.expect("* ann left")

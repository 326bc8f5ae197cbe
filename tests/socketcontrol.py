"""A WebSocket between the page and the server that a test controls (through Playwright's routing)."""

from __future__ import annotations

import json
from typing import Any

from playwright.sync_api import WebSocketRoute


def events_in(frame: str | bytes) -> list[dict[str, Any]]:
    decoded = json.loads(frame)
    return decoded if isinstance(decoded, list) else [decoded]


class SocketControl:
    """Sits between the page and the server: records URLs and frames, cuts the socket, and can
    keep the page out (refusing new sockets) or add frames of its own after the welcome."""

    # Playwright forwards a close from one side to the other unless on_close handlers are set;
    # they are, so that a cut can leave the server side open, as a silent network failure does.

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.received: list[dict[str, Any]] = []
        self.current: WebSocketRoute | None = None
        self.server_side: WebSocketRoute | None = None
        self.ghost: WebSocketRoute | None = None  # a server side left open by a cut
        self.refuse = False
        self.after_welcome: list[dict[str, Any]] = []

    def route(self, ws: WebSocketRoute) -> None:
        self.urls.append(ws.url)
        if self.refuse:
            ws.close(code=4999, reason="test: refused")
            return
        server = ws.connect_to_server()
        self.current, self.server_side = ws, server
        ws.on_close(lambda code, reason: server is self.ghost or server.close(code=code, reason=reason or ""))
        server.on_close(lambda code, reason: ws.close(code=code, reason=reason or ""))

        def from_server(frame: str | bytes) -> None:
            ws.send(frame)
            events = events_in(frame)
            self.received.extend(events)
            if self.after_welcome and any(event["type"] == "welcome" for event in events):
                ws.send(json.dumps(self.after_welcome))
                self.after_welcome = []

        server.on_message(from_server)

    def cut(self, server_notices: bool = True) -> WebSocketRoute:
        """Drop the page's socket as a network failure would; unless ``server_notices``, the
        server keeps its side open (it has not noticed yet). Returns the server side."""
        assert self.current is not None and self.server_side is not None
        if not server_notices:
            self.ghost = self.server_side
        self.current.close(code=4999, reason="test: cut")
        if server_notices:
            self.server_side.close(code=4999, reason="test: cut")
        self.current = None
        return self.server_side

    def max_id(self) -> int:
        return max(event["id"] for event in self.received if "id" in event)

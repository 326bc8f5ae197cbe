"""Where the server touches uvicorn beyond its documented settings: every such name is here.

uvicorn documents its settings (``uvicorn.Config``) and ``uvicorn.Server(config).serve()``.
What it does not document, and we rely on for ``python -m app``:

- the ``ws`` setting is *called* once per upgrade request, like a protocol class, with the
  keyword arguments ``config=``, ``server_state=`` and ``app_state=``; the protocol then gets
  ``connection_made(transport)`` and the request's head (re-serialised, ending in a blank line)
  in one ``data_received`` call;
- ``server_state.connections`` is the set its graceful shutdown calls ``shutdown()`` on, and
  waits to see emptied, so a protocol of ours joins it while open;
- ``Server.startup(sockets)`` and ``Server.shutdown(sockets)`` are the steps of ``serve``: we
  extend them to freeze what start-up built, and to say goodbye to chat clients before uvicorn
  closes connections.

tests/unit/test_uvicorn_contact.py (the canary) checks each of these against the installed
uvicorn and names what changed when one breaks. Other guards on uvicorn's connections (on
HTTP connections that never finish their request, for example) belong in this module too:
``server_config`` is the one place the uvicorn configuration is built.
"""

from __future__ import annotations

import asyncio
import gc
import socket
from collections.abc import Callable, MutableSet
from typing import Any

import uvicorn

from app.config import Settings

Connections = MutableSet[Any]
"""uvicorn's set of open connections (``server_state.connections``)."""


class WebSocketDoorFactory:
    """What ``uvicorn.Config(ws=...)`` is given: uvicorn calls it like a protocol class for each
    upgrade request; it builds our own protocol, which joins uvicorn's set of connections."""

    def __init__(self, build: Callable[[Connections], asyncio.Protocol]) -> None:
        self.build = build

    def __call__(self, *, server_state: Any, **_other_settings: Any) -> asyncio.Protocol:
        return self.build(server_state.connections)


class ChatServer(uvicorn.Server):
    """uvicorn's server, with the chat service's start and goodbye around its own steps."""

    def __init__(self, config: uvicorn.Config, start: Callable[[], Any], goodbye: Callable[[], None]) -> None:
        """``start`` is awaited before uvicorn's start-up (so a refusal ends start-up with one line
        instead of a logged traceback); ``goodbye`` runs as shutdown begins, before uvicorn
        closes connections (so every client hears why)."""
        super().__init__(config)
        self._start = start
        self._goodbye = goodbye

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        await self._start()
        await super().serve(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # What start-up built (modules, app, routes) lives as long as the process: keep the
        # collector from walking it again on every full collection among thousands of connections.
        gc.freeze()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._goodbye()
        await super().shutdown(sockets)


def server_config(app: Any, settings: Settings, ws: WebSocketDoorFactory, backlog: int) -> uvicorn.Config:
    """uvicorn's settings for ``python -m app``: our WebSocket door, proxy headers, a graceful
    shutdown bounded by CHAT_GRACEFUL_TIMEOUT, and an accept queue sized by the open-file limit."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws=ws,  # type: ignore[arg-type]  # a factory called like a class; see the module docstring
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=settings.graceful_timeout,
        lifespan="on",
        backlog=backlog,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
    )

"""``python -m app``: run the chat server (HTTP + WebSocket, and the TCP gateway) with uvicorn."""

from __future__ import annotations

import gc
import logging
import queue
import signal
import sys
from logging.handlers import QueueHandler, QueueListener

import uvicorn

from app import open_files
from app.asgi import create_app
from app.config import Settings, SettingsError
from app.gateways.ws_protocol import ChatWebSocketProtocol
from app.service import ChatService


class ChatServer(uvicorn.Server):
    """uvicorn's server, telling chat clients about a restart before it closes connections."""

    def __init__(self, config: uvicorn.Config, service: ChatService) -> None:
        super().__init__(config)
        self.service = service

    async def serve(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        # Start the chat service before uvicorn's lifespan (which then finds it started): a taken
        # TCP port ends start-up with the service's one-line message instead of a logged traceback.
        await self.service.start()
        await super().serve(sockets)

    async def startup(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        await super().startup(sockets)
        # What start-up built (modules, app, routes) lives as long as the process: keep the
        # collector from walking it again on every full collection among thousands of connections.
        gc.freeze()

    async def shutdown(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        self.service.begin_shutdown()
        await super().shutdown(sockets)


def build_server(settings: Settings) -> ChatServer:
    app = create_app(settings)
    ceiling, _ = open_files.raise_ceiling()  # before listening: the accept queue is sized by it
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        ws=ChatWebSocketProtocol,
        ws_max_size=settings.ws_max_frame,
        ws_ping_interval=settings.ws_ping_interval or None,
        ws_ping_timeout=settings.ws_ping_timeout or None,
        ws_per_message_deflate=False,
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=settings.graceful_timeout,
        lifespan="on",
        backlog=open_files.backlog(ceiling),
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
    )
    return ChatServer(config, app.state.chat)


def main() -> None:
    try:
        settings = Settings.from_env()
    except SettingsError as problem:
        sys.exit(f"configuration error: {problem}")
    listener = log_from_a_thread(settings.log_level.upper())
    interrupted = False
    try:
        build_server(settings).run()
    except KeyboardInterrupt:
        # uvicorn shuts down on Ctrl-C as on SIGTERM, then raises the signal it caught again; for
        # SIGINT Python makes that a KeyboardInterrupt. The shutdown is done and logged: end quietly.
        interrupted = True
    finally:
        listener.stop()
    if interrupted:  # exit as killed by SIGINT, as SIGTERM's exit is by SIGTERM: shells see why it ended
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.raise_signal(signal.SIGINT)


def log_from_a_thread(level: str) -> QueueListener:
    """The chat log (joins, leaves, messages) is written to stdout by a thread of its own: a slow
    log pipe then delays the log, never the event loop."""
    records: queue.SimpleQueue[logging.LogRecord] = queue.SimpleQueue()
    out = logging.StreamHandler(sys.stdout)
    out.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    listener = QueueListener(records, out)
    listener.start()
    root = logging.getLogger()
    root.setLevel(level)
    root.addHandler(QueueHandler(records))
    return listener


if __name__ == "__main__":
    main()

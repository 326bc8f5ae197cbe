"""``python -m app``: run the chat server (HTTP + WebSocket, and the TCP gateway) with uvicorn,
WebSockets on the lean path (our own door and connection protocol)."""

from __future__ import annotations

import signal
import sys

from app import open_files
from app.asgi import create_app
from app.config import Settings, SettingsError
from app.gateways.uvicorn_contact import ChatServer, WebSocketDoorFactory, server_config
from app.gateways.websocket import WebSocketPath
from app.gateways.ws_door import WebSocketDoor
from app.logs import log_from_a_thread
from app.service import StartupRefused


def build_server(settings: Settings) -> ChatServer:
    app = create_app(settings)
    service = app.service
    service.websocket.path = WebSocketPath.LEAN
    door = WebSocketDoorFactory(lambda connections: WebSocketDoor(service.websocket, connections))
    ceiling, _ = open_files.raise_ceiling()  # before listening: the accept queue is sized by it
    config = server_config(app, settings, door, open_files.backlog(ceiling), service.hub)
    return ChatServer(config, start=service.start, goodbye=service.begin_shutdown)


def main() -> None:
    try:
        settings = Settings.from_env()
    except SettingsError as problem:
        sys.exit(f"configuration error: {problem}")
    listener = log_from_a_thread(settings.log_level.upper())
    interrupted = False
    try:
        build_server(settings).run()
    except StartupRefused as refusal:
        sys.exit(str(refusal))
    except KeyboardInterrupt:
        # uvicorn shuts down on Ctrl-C as on SIGTERM, then raises the signal it caught again; for
        # SIGINT Python makes that a KeyboardInterrupt. The shutdown is done and logged: end quietly.
        interrupted = True
    finally:
        listener.stop()
    if interrupted:  # exit as killed by SIGINT, as SIGTERM's exit is by SIGTERM: shells see why it ended
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.raise_signal(signal.SIGINT)


if __name__ == "__main__":
    main()

"""``python -m app``: run the chat server (HTTP + WebSocket, and the TCP gateway) with uvicorn,
WebSockets on the lean path (our own door and connection protocol)."""

from __future__ import annotations

import signal
import sys

from app.asgi import create_app
from app.config import Settings, SettingsError
from app.gateways.uvicorn_contact import ChatServer, WebSocketDoorFactory, server_config
from app.gateways.websocket import WebSocketPath
from app.gateways.ws_door import WebSocketDoor
from app.ops import open_files
from app.ops.logs import log_from_a_thread
from app.service import StartupRefused


def build_server(settings: Settings) -> ChatServer:
    app = create_app(settings)
    service = app.service
    service.websocket.path = WebSocketPath.LEAN
    door = WebSocketDoorFactory(lambda connections: WebSocketDoor(service.websocket, connections))
    ceiling, _ = open_files.raise_ceiling()  # before listening: the accept queue is sized by it
    config = server_config(app, settings, door, open_files.backlog(ceiling), service.hub)
    return ChatServer(config, start=service.start, goodbye=service.begin_shutdown)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopped(KeyboardInterrupt):
    """SIGINT or SIGTERM, raised where the process was when it came: before uvicorn serves, or
    when uvicorn raises it again after its graceful shutdown (it handles both while serving).
    A KeyboardInterrupt, so that nothing that catches ``Exception`` swallows it."""

    def __init__(self, stop: signal.Signals) -> None:
        super().__init__(stop.name)
        self.signal = stop


def _stop(signum: int, frame: object) -> None:
    raise Stopped(signal.Signals(signum))


def main() -> None:
    try:
        settings = Settings.from_env()
    except SettingsError as problem:
        sys.exit(f"configuration error: {problem}")
    listener = log_from_a_thread(settings.log_level.upper())
    # Our own handlers, whatever the process started with (a shell's background job starts with
    # SIGINT ignored, and the signal uvicorn raises again would then be lost: an exit status of 0
    # after Ctrl-C). uvicorn puts them back after its shutdown and raises the signal it caught.
    for stop in STOP_SIGNALS:
        signal.signal(stop, _stop)
    stopped: signal.Signals | None = None
    try:
        build_server(settings).run()
    except StartupRefused as refusal:
        sys.exit(str(refusal))
    except Stopped as stop:
        stopped = stop.signal  # the shutdown is done and logged: end quietly, once the log is out
    finally:
        listener.stop()
    if stopped is not None:  # exit as killed by the signal, so that shells and supervisors see why it ended
        signal.signal(stopped, signal.SIG_DFL)
        signal.raise_signal(stopped)


if __name__ == "__main__":
    main()

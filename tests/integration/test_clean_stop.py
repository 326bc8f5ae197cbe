"""Ctrl-C on the server stops it exactly as SIGTERM does: clients told, one log line, no traceback."""

from __future__ import annotations

import signal
from collections.abc import Callable

import pytest
from support import ServerProcess


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_a_signal_stops_the_server_cleanly(start_server: Callable[..., ServerProcess], sig: signal.Signals) -> None:
    server = start_server()
    user = server.tcp(nick="bob")
    server.signal(sig)
    assert user.expect(lambda line: line.startswith("* Disconnected")) == (
        "* Disconnected: server restarting — reconnect in a moment"
    )
    assert server.wait(15) == -sig  # ended by the signal, as the shell expects
    output = server.output()
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert output.count("shutting down: closing 1 chat connections") == 1

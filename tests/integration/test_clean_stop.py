"""Ctrl-C on the server stops it exactly as SIGTERM does: clients told, one log line, no traceback,
and the process ends by the signal, whatever that signal's handling was when it started."""

from __future__ import annotations

import signal
from collections.abc import Callable
from pathlib import Path

import pytest
from support import ServerProcess


class BackgroundJob(ServerProcess):
    """Started as a shell without job control starts `python -m app &`: with SIGINT ignored."""

    def popen_options(self) -> dict[str, object]:
        return {"preexec_fn": lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)}


def stops_cleanly(server: ServerProcess, sig: signal.Signals) -> None:
    user = server.tcp(nick="bob")
    server.signal(sig)
    assert user.expect(lambda line: line.startswith("* Disconnected")) == (
        "* Disconnected: server restarting — reconnect in a moment"
    )
    assert server.wait(15) == -sig  # ended by the signal, as the shell expects
    output = server.output()
    assert "Traceback" not in output and "KeyboardInterrupt" not in output
    assert output.count("shutting down: closing 1 chat connections") == 1


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["Ctrl-C", "SIGTERM"])
def test_a_signal_stops_the_server_cleanly(start_server: Callable[..., ServerProcess], sig: signal.Signals) -> None:
    stops_cleanly(start_server(), sig)


def test_ctrl_c_stops_a_server_started_with_it_ignored(tmp_path: Path, stopper) -> None:
    """uvicorn handles SIGINT while it serves, then puts back the handler it found and raises the
    signal again: an ignored SIGINT was then lost, and the process said it ended well (status 0)."""
    server = BackgroundJob(tmp_path)
    try:
        stops_cleanly(server.start(), signal.SIGINT)
    finally:
        stopper.stop(server)

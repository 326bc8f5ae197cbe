"""Interop with an independent WebSocket client: Node's ``ws`` library (tests/interop/node) sends
a message in fragments with pings between them and multibyte characters split across fragments,
then closes, and is closed by the server. Needs ``node`` and ``npm`` (the ``ws`` package is
installed into the fixture on first use); skipped without them, except in CI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support import ROOT, ServerProcess, missing

CLIENT = ROOT / "tests" / "interop" / "node"
TEXT = "fragments → ünïcödé 😀 done"


@pytest.fixture(scope="module")
def node() -> Path:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        missing("the Node interop test needs node and npm (apt-get install nodejs npm)")
    assert npm is not None and node is not None
    if not (CLIENT / "node_modules" / "ws").is_dir():
        subprocess.run(
            [npm, "install", "--no-audit", "--no-fund", "--silent"], cwd=CLIENT, check=True, capture_output=True
        )
    return Path(node)


@pytest.fixture(params=["lean", "asgi"])
def either_path(request: pytest.FixtureRequest, start_server: Callable[..., ServerProcess], launch) -> ServerProcess:
    """The server as ``python -m app`` (our own door) and as ``uvicorn app.asgi:app`` (ASGI path)."""
    if request.param == "lean":
        return start_server()
    return launch([sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}", "app.asgi:app"])


def run_client(node: Path, server: ServerProcess) -> dict[str, dict[str, Any]]:
    done = subprocess.run(
        [str(node), "client.mjs", server.ws_url], cwd=CLIENT, capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 0, done.stderr
    return {record["step"]: record for record in map(json.loads, done.stdout.splitlines())}


def test_the_node_ws_client_chats_in_fragments_with_pings_and_closes_both_ways(
    node: Path, either_path: ServerProcess
) -> None:
    server = either_path
    terminal = server.tcp(nick="term")
    seen = run_client(node, server)
    assert seen["fragmented"]["text"] == TEXT  # another web user got it whole
    assert seen["own"] == {"step": "own", "text": TEXT, "pongs": 2}  # both pings answered, in between
    assert terminal.expect(lambda line: line.startswith("[nodeA]")) == f"[nodeA] {TEXT}"
    assert seen["client close"] == {"step": "client close", "code": 1000, "reason": "bye from node"}
    assert seen["left"]["nick"] == "nodeA"
    assert seen["server close"] == {"step": "server close", "code": 1000, "reason": "quit"}
    terminal.expect("* nodeB left")

"""Shared fixtures: a real server per test, started on free ports and stopped afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import ServerProcess


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``python -m app`` with extra environment settings; stopped at the end of the test."""
    servers: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        server = ServerProcess(tmp_path, env).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    """A server with default settings."""
    return start_server()

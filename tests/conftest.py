"""Shared fixtures: a real server per test, started on free ports and stopped afterwards."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import REDIS_SERVER, RedisServer, ServerProcess


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


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free port; its directory is removed afterwards. Skipped when
    Redis is not installed, unless CHAT_TEST_REQUIRE_ALL=1 (CI), where that is a failure."""
    if not os.access(REDIS_SERVER, os.X_OK):
        reason = "redis-server is not installed (apt install redis-server)"
        if os.environ.get("CHAT_TEST_REQUIRE_ALL") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    data_dir = Path(tempfile.mkdtemp(prefix="chat-redis-"))
    server = RedisServer(data_dir).start()
    yield server
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)

"""Shared fixtures: a fresh server per test on free ports, stopped in the background afterwards.

A graceful stop (SIGTERM, clients told, process exit) takes a noticeable part of a second on a
busy machine; letting it run while the next test boots its own server keeps the suite fast.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest
from support import (
    REDIS_CLI,
    REDIS_SERVER,
    ROOT,
    LimitedServer,
    RedisCluster,
    RedisServer,
    ServerProcess,
    missing,
)


class Stopper:
    """Stops servers on worker threads; ``close`` waits until every one has exited."""

    def __init__(self) -> None:
        self.workers = ThreadPoolExecutor(max_workers=4, thread_name_prefix="server-stop")
        self.stopping: list[Future[None]] = []

    def stop(self, server: ServerProcess) -> None:
        self.stopping.append(self.workers.submit(server.stop))

    def close(self) -> None:
        for stop in self.stopping:
            stop.result()
        self.workers.shutdown()


def pytest_make_parametrize_id(config: pytest.Config, val: object, argname: str) -> str | None:
    """Bytes parameters (WebSocket frames carry random masks) are named by their length, so that
    every pytest-xdist worker collects the same test ids."""
    return f"{len(val)}-bytes" if isinstance(val, bytes) else None


@pytest.fixture(scope="session")
def stopper() -> Iterator[Stopper]:
    background = Stopper()
    yield background
    background.close()


@pytest.fixture
def start_server(tmp_path: Path, stopper: Stopper) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``python -m app`` with extra environment settings; stopped after the test."""
    servers: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        server = ServerProcess(tmp_path, env).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        stopper.stop(server)


@pytest.fixture
def limited(tmp_path: Path, stopper: Stopper) -> Iterator[Callable[..., ServerProcess]]:
    """Start ``python -m app`` under an open-file limit: ``limited(soft, hard, **env)``."""
    servers: list[ServerProcess] = []

    def start(soft: int, hard: int, **env: str) -> ServerProcess:
        server = LimitedServer(tmp_path, env, soft, hard).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        stopper.stop(server)


@pytest.fixture
def launch(tmp_path: Path, stopper: Stopper) -> Iterator[Callable[..., ServerProcess]]:
    """Start the server another way than ``python -m app``: ``launch(command, cwd=..., **env)``,
    where ``{port}`` in the command stands for its HTTP port; stopped after the test."""
    servers: list[ServerProcess] = []

    def start(command: list[str], cwd: Path = ROOT, **env: str) -> ServerProcess:
        server = ServerProcess(tmp_path, env, command, cwd)
        servers.append(server)
        return server.start(timeout=30.0)

    yield start
    for server in servers:
        stopper.stop(server)


@pytest.fixture
def server(start_server: Callable[..., ServerProcess]) -> ServerProcess:
    """A server with default settings."""
    return start_server()


def redis_dir(*binaries: str) -> Path:
    """A fresh directory for Redis to work in, once the ``binaries`` are known to be installed:
    otherwise the test is skipped, unless CHAT_TEST_REQUIRE_ALL=1 (CI), where that is a failure."""
    for binary in binaries:
        if not os.access(binary, os.X_OK):
            missing(f"{Path(binary).name} is not installed (apt install redis-server)")
    return Path(tempfile.mkdtemp(prefix="chat-redis-"))


@pytest.fixture
def redis_server() -> Iterator[RedisServer]:
    """A real ``redis-server`` on a free port; its directory is removed afterwards."""
    data_dir = redis_dir(REDIS_SERVER)
    server = RedisServer(data_dir).start()
    yield server
    server.stop()
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def formed_cluster() -> Iterator[RedisCluster]:
    """A real three-node Redis Cluster on free ports, formed once (it takes seconds); its
    directories are removed afterwards."""
    data_dir = redis_dir(REDIS_SERVER, REDIS_CLI)
    try:
        cluster = RedisCluster(data_dir).start()
        yield cluster
        cluster.stop()
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture
def redis_cluster(formed_cluster: RedisCluster) -> RedisCluster:
    """The cluster, emptied: each test starts from no keys at all."""
    formed_cluster.flush()
    return formed_cluster


@pytest.fixture(params=["redis", "cluster"])
def shared_redis(request: pytest.FixtureRequest) -> RedisServer | RedisCluster:
    """What several processes share rooms through: a single Redis, then a Redis Cluster."""
    return request.getfixturevalue("redis_server" if request.param == "redis" else "redis_cluster")  # type: ignore[no-any-return]

"""Test support: run the real server in a subprocess and talk to it with real sockets.

Everything here is synchronous (blocking sockets and the ``websockets`` sync client) so tests
read top to bottom like a user's session.
"""

from __future__ import annotations

import inspect
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
from websockets.sync.client import ClientConnection, connect

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TIMEOUT = 5.0
KEPT_OPEN = {"legacy": True} if "legacy" in inspect.signature(connect).parameters else {}
"""websockets 17.1 and later ask for ``legacy=True`` when a connection is used outside ``with``
(as these users are); older versions have no such argument."""


def missing(reason: str) -> None:
    """Skip a test whose tool is not installed here, except where every test must run (CI)."""
    if os.environ.get("CHAT_TEST_REQUIRE_ALL") == "1":
        pytest.fail(f"{reason} (CHAT_TEST_REQUIRE_ALL=1: nothing may be skipped)")
    pytest.skip(reason)


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, and not handed out before in this run: the kernel may offer the
    same free port to two calls in a row, and one server given it twice fails to start."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class ServerProcess:
    """``python -m app`` on free ports, with its output captured to a file.

    ``command`` runs it another way (``{port}`` stands for the HTTP port), from ``cwd``."""

    def __init__(
        self,
        log_dir: Path,
        env: dict[str, str] | None = None,
        command: list[str] | None = None,
        cwd: Path = ROOT,
    ) -> None:
        self.port = free_port()
        self.tcp_port = free_port()
        self.log_path = log_dir / f"server-{self.port}.log"
        self.env = {
            **os.environ,
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "CHAT_TCP_PORT": str(self.tcp_port),
            "PYTHONUNBUFFERED": "1",
            "CHAT_DB": str(log_dir / f"chat-{self.port}.db"),
            # A newcomer's history replay is off unless a test asks for it, so that tests of
            # live behaviour see only live events.
            "CHAT_WEB_HISTORY": "0",
            "CHAT_TCP_REPLAY": "0",
            # A line-door user who says nothing is welcomed after this grace (see app.gateways.tcp).
            "CHAT_QUIET_GRACE": "0.1",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.argv = [part.format(port=self.port) for part in command or [sys.executable, "-m", "app"]]
        """The command that starts it (a test may run it another way: from an image's venv, under honcho)."""
        self.cwd = cwd

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def start(self, timeout: float = 10.0) -> ServerProcess:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv,
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            **self.popen_options(),  # type: ignore[arg-type]
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.http_url}/healthz", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"server not ready in {timeout}s:\n{self.output()}")

    def popen_options(self) -> dict[str, object]:
        """Extra ``subprocess.Popen`` arguments (a subclass may set limits on the process)."""
        return {}

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def health(self) -> dict[str, Any]:
        return httpx.get(f"{self.http_url}/healthz", timeout=2).json()

    def signal(self, sig: int) -> None:
        assert self.process is not None
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def tcp(self, **kwargs: Any) -> TcpUser:
        return TcpUser(self.tcp_port, **kwargs)

    def web(self, nick: str | None = None, query: str = "", **kwargs: Any) -> WebUser:
        params = "&".join(p for p in (f"nick={nick}" if nick else "", query) if p)
        return WebUser(self.ws_url + (f"?{params}" if params else ""), **kwargs)


class LimitedServer(ServerProcess):
    """The server started as from a shell with ``ulimit -n`` (and ``-Hn``) set."""

    def __init__(self, log_dir: Path, env: dict[str, str], soft: int, hard: int) -> None:
        super().__init__(log_dir, env)
        self.nofile = (soft, hard)

    def popen_options(self) -> dict[str, object]:
        return {"preexec_fn": lambda: resource.setrlimit(resource.RLIMIT_NOFILE, self.nofile)}


REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
CLUSTER_SLOTS = 16384


def wait_until(ready: Callable[[], bool], timeout: float, failure: Callable[[], str]) -> None:
    """Poll ``ready`` until it holds; past ``timeout`` seconds, fail with the message ``failure`` builds."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            raise RuntimeError(failure())
        time.sleep(0.05)


def answers_ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def start_redis(data_dir: Path, port: int, *options: str, timeout: float) -> subprocess.Popen[bytes]:
    """A ``redis-server`` on ``port`` without persistence, working (and logging) in ``data_dir``,
    once it answers PING."""
    log_path = data_dir / "redis.log"
    args = [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    with log_path.open("ab") as log:
        process = subprocess.Popen([*args, "--dir", str(data_dir), *options], stdout=log, stderr=subprocess.STDOUT)

    def output() -> str:
        return log_path.read_text(errors="replace")

    def ready() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"redis-server exited with {process.returncode}:\n{output()}")
        return answers_ping(port)

    wait_until(ready, timeout, lambda: f"redis-server not ready in {timeout}s:\n{output()}")
    return process


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(10)


class RedisServer:
    """A throwaway ``redis-server`` on a free port, without persistence, in its own directory."""

    def __init__(self, data_dir: Path) -> None:
        self.port = free_port()
        self.dir = data_dir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 5.0) -> RedisServer:
        """Start (or restart, on the same port) and wait until it answers PING."""
        self.process = start_redis(self.dir, self.port, timeout=timeout)
        return self

    def stop(self) -> None:
        """Terminate it (its data is gone: it runs without persistence)."""
        if self.process is not None:
            stop_process(self.process)


class RedisCluster:
    """Three ``redis-server`` nodes on free ports forming one Redis Cluster without replicas, each
    serving a third of the hash slots and working in its own directory under ``data_dir``."""

    def __init__(self, data_dir: Path) -> None:
        self.ports = [free_port() for _ in range(3)]
        self.dir = data_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        # The bus port is named, not left at port + 10000, which may be taken or past 65535.
        self.bus_ports = [free_port() for _ in self.ports]

    @property
    def url(self) -> str:
        """One node's address, as a user names a cluster: clients learn the others from it."""
        return f"redis://127.0.0.1:{self.ports[0]}/0"

    def start(self, timeout: float = 20.0) -> RedisCluster:
        """Start the nodes, join them, and wait until every node sees every slot served; on failure
        nothing is left running."""
        try:
            for index in range(len(self.ports)):
                self.processes.append(self._start_node(index, timeout))
            addresses = [f"127.0.0.1:{port}" for port in self.ports]
            create = [REDIS_CLI, "--cluster", "create", *addresses, "--cluster-replicas", "0", "--cluster-yes"]
            created = subprocess.run(create, capture_output=True, text=True, timeout=timeout)
            if created.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed:\n{created.stdout}{created.stderr}")
            wait_until(self.is_ready, timeout, lambda: f"redis cluster not ready in {timeout}s: {self.states()}")
        except BaseException:
            self.stop()
            raise
        return self

    def _start_node(self, index: int, timeout: float) -> subprocess.Popen[bytes]:
        port = self.ports[index]
        node_dir = self.dir / f"node-{port}"
        node_dir.mkdir(parents=True, exist_ok=True)  # a restarted node finds its cluster there
        options = ["--cluster-enabled", "yes", "--cluster-config-file", f"nodes-{port}.conf"]
        options += ["--cluster-port", str(self.bus_ports[index]), "--cluster-node-timeout", "2000"]
        # As README advises: a shard that is down stops its own slots only, not the whole cluster.
        options += ["--cluster-require-full-coverage", "no"]
        return start_redis(node_dir, port, *options, timeout=timeout)

    def stop_node(self, port: int) -> None:
        """Take one shard down (its data is gone: it runs without persistence)."""
        stop_process(self.processes[self.ports.index(port)])

    def restart_node(self, port: int, timeout: float = 20.0) -> None:
        """Bring a shard back, empty, and wait until the cluster serves every slot again."""
        index = self.ports.index(port)
        self.processes[index] = self._start_node(index, timeout)
        wait_until(self.is_ready, timeout, lambda: f"redis cluster not ready in {timeout}s: {self.states()}")

    def states(self) -> dict[int, dict[str, str] | str]:
        """Each node's ``CLUSTER INFO`` (or why it could not be read), by port."""
        states: dict[int, dict[str, str] | str] = {}
        for port in self.ports:
            try:
                with redis.Redis(port=port, socket_timeout=1, decode_responses=True) as node:
                    states[port] = node.cluster("INFO")
            except redis.RedisError as error:
                states[port] = repr(error)
        return states

    def is_ready(self) -> bool:
        return all(
            isinstance(info, dict)
            and info.get("cluster_state") == "ok"
            and info.get("cluster_slots_ok") == str(CLUSTER_SLOTS)
            for info in self.states().values()
        )

    def flush(self) -> None:
        """Empty every node, leaving the cluster formed: a fresh cluster for the next test, without
        the seconds it takes to form one."""
        for port in self.ports:
            with redis.Redis(port=port, socket_timeout=5) as node:
                node.flushall()

    def stop(self) -> None:
        """Terminate the nodes this cluster started (their data is gone: they run without persistence)."""
        for process in self.processes:
            stop_process(process)


class TcpUser:
    """A telnet/netcat user: sends lines, reads CRLF lines."""

    def __init__(
        self,
        port: int,
        nick: str | None = None,
        rcvbuf: int | None = None,
        host: str = "127.0.0.1",
        preamble: bytes = b"",
    ) -> None:
        """``preamble``: bytes sent first (a PROXY protocol header, naming the client a proxy speaks for)."""
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(DEFAULT_TIMEOUT)
        self.sock.connect((host, port))
        if preamble:
            self.sock.sendall(preamble)
        self.buffer = b""
        self.lines: list[str] = []
        if nick:  # typed at once, as a user who knows the server does: it lets them in at once
            self.send(f"/nick {nick}")
        self.nick = self.expect(lambda line: line.startswith("* You are ")).split()[3]
        if nick:
            self.expect(lambda line: line.endswith(f"is now known as {nick}"))
            self.nick = nick

    def send(self, line: str) -> None:
        self.send_raw(line.encode() + b"\r\n")

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_line(self, timeout: float = DEFAULT_TIMEOUT) -> str:
        """The next line; raises TimeoutError if none arrives, EOFError if the server closed."""
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no line within {timeout}s; seen: {self.lines[-10:]}")
            self.sock.settimeout(remaining)
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            if not data:
                raise EOFError(f"server closed the connection; seen: {self.lines[-10:]}")
            self.buffer += data
        raw, self.buffer = self.buffer.split(b"\r\n", 1)
        line = raw.decode()
        self.lines.append(line)
        return line

    def expect(self, match: str | Callable[[str], bool], timeout: float = DEFAULT_TIMEOUT) -> str:
        """Read until a line equals ``match`` (or satisfies it, if callable); return that line."""
        deadline = time.monotonic() + timeout
        while True:
            line = self.read_line(max(0.0, deadline - time.monotonic()))
            if match(line) if callable(match) else line == match:
                return line

    def silent(self, duration: float = 0.3) -> list[str]:
        """Lines that arrive within ``duration`` (tests assert this is empty or lacks something)."""
        got = []
        try:
            while True:
                got.append(self.read_line(duration))
        except TimeoutError:
            return got

    def closed(self, timeout: float = DEFAULT_TIMEOUT) -> bool:
        """True once the server has closed the connection (reading and discarding what remains)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.read_line(max(0.01, deadline - time.monotonic()))
            except EOFError:
                return True
            except (ConnectionError, OSError) as error:
                return not isinstance(error, TimeoutError)
        return False

    def close(self) -> None:
        self.sock.close()


class WebUser:
    """A WebSocket user speaking the JSON protocol (or ``mode=text``)."""

    def __init__(
        self, url: str, origin: str | None = None, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> None:
        headers = {**({"Origin": origin} if origin else {}), **(headers or {})}
        self.ws: ClientConnection = connect(
            url, additional_headers=headers or None, open_timeout=DEFAULT_TIMEOUT, **KEPT_OPEN, **kwargs
        )
        self.pending: list[Any] = []
        self.events: list[Any] = []
        self.text_mode = "mode=text" in url
        if self.text_mode:
            self.nick = self.expect(lambda line: line.startswith("* You are ")).split()[3]
        else:
            self.welcome = self.expect(lambda e: e["type"] == "welcome")
            self.nick = self.welcome["nick"]

    def say(self, text: str) -> None:
        self.ws.send(json.dumps({"type": "say", "text": text}))

    def send_raw(self, frame: str | bytes) -> None:
        self.ws.send(frame)

    def next(self, timeout: float = DEFAULT_TIMEOUT) -> Any:
        """The next event (arrays are unpacked; in text mode, the next line)."""
        if not self.pending:
            frame = self.ws.recv(timeout)
            if self.text_mode:
                self.pending.append(frame)
            else:
                decoded = json.loads(frame)
                self.pending.extend(decoded if isinstance(decoded, list) else [decoded])
        event = self.pending.pop(0)
        self.events.append(event)
        return event

    def expect(
        self, match: Callable[[Any], bool] | None = None, timeout: float = DEFAULT_TIMEOUT, **fields: Any
    ) -> Any:
        """Read until an event satisfies ``match`` and has all ``fields``; return it."""
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no matching event; seen: {self.events[-10:]}")
            event = self.next(remaining)
            if match is not None and not match(event):
                continue
            if all(event.get(key) == value for key, value in fields.items()):
                return event

    def silent(self, duration: float = 0.3) -> list[Any]:
        got = []
        try:
            while True:
                got.append(self.next(duration))
        except TimeoutError:
            return got

    def close(self) -> None:
        self.ws.close()

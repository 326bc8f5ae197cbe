"""Every usual way of running an ASGI app gives a working chat: ``python -m app`` (the lean
WebSocket path), ``uvicorn app.asgi:app``, ``uvicorn --factory app.asgi:create_app`` and gunicorn
with uvicorn's worker (the standard ASGI path). Several workers form one room through Redis, and
refuse to start without it."""

from __future__ import annotations

import contextlib
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from support import ServerProcess, TcpUser, WebUser, free_port
from tlsuser import Certificates

UVICORN = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", "{port}"]
GUNICORN = [
    sys.executable,
    "-m",
    "gunicorn",
    "-k",
    "uvicorn_worker.UvicornWorker",
    "-w",
    "2",
    "-b",
    "127.0.0.1:{port}",
    "--graceful-timeout",
    "5",
    "app.asgi:app",
]

Launch = Callable[..., ServerProcess]


def telnet_listeners(port: int) -> int:
    """Sockets listening on a local TCP port (from the kernel's table: state 0A is LISTEN)."""
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return sum(1 for row in rows if row[3] == "0A" and row[1].endswith(f":{port:04X}"))


def listening_on(port: int) -> set[str]:
    """The addresses a local TCP port listens on (from the kernel's table, IPv4: 0100007F is 127.0.0.1)."""
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    return {row[1].split(":")[0] for row in rows if row[3] == "0A" and row[1].endswith(f":{port:04X}")}


def chat_works(server: ServerProcess) -> None:
    """The page and an asset load; web and telnet users chat both ways."""
    page = httpx.get(server.http_url + "/", timeout=5)
    assert page.status_code == 200 and '<script type="module"' in page.text
    assert httpx.get(server.http_url + "/static/chat.css", timeout=5).status_code == 200
    ann = server.web("ann")
    bob = server.tcp(nick="bob")
    ann.say("héllo from the web")
    assert bob.expect(lambda line: line.startswith("[ann]")) == "[ann] héllo from the web"
    bob.send("and back")
    assert ann.expect(type="message", nick="bob")["text"] == "and back"


def test_python_m_app_says_it_serves_websockets_on_the_lean_path(server: ServerProcess) -> None:
    chat_works(server)
    assert "WebSocket path: lean" in server.output()


@pytest.mark.parametrize("target", [["app.asgi:app"], ["--factory", "app.asgi:create_app"]], ids=["app", "factory"])
def test_uvicorn_serves_the_chat_on_the_standard_asgi_path(launch: Launch, target: list[str]) -> None:
    server = launch([*UVICORN, *target])
    chat_works(server)
    assert "WebSocket path: standard ASGI" in server.output()


def test_the_asgi_path_keeps_the_protocol_rules(launch: Launch) -> None:
    """Same refusals and close codes as the lean path: foreign origins get 403, an oversized
    message 1009, a binary frame a clear error, and /quit a normal close."""
    server = launch([*UVICORN, "app.asgi:app"], CHAT_WS_MAX_FRAME="1000", CHAT_MAX_PER_IP="1")
    with pytest.raises(Exception, match="403"):
        WebUser(server.ws_url, origin="https://evil.example")
    carol = server.web("carol", query="mode=text")
    carol.send_raw(b"\x00binary")
    assert "Binary frames are not supported" in carol.expect(lambda line: line.startswith("!"))
    carol.send_raw("x" * 1001)
    with pytest.raises(Exception) as closed:
        carol.next()
    assert "1009" in str(closed.value)
    dave = server.web("dave")
    dave.say("/quit bye")
    with pytest.raises(Exception) as quit_:
        while True:
            dave.next()
    assert "1000" in str(quit_.value)


def test_gunicorn_with_two_workers_and_redis_is_one_room(launch: Launch, redis_server, tmp_path: Path) -> None:
    server = launch(GUNICORN, REDIS_URL=redis_server.url)
    # Both workers join the room, and both serve the telnet port (SO_REUSEPORT).
    store = redis.Redis.from_url(redis_server.url)
    deadline = time.monotonic() + 20
    while len(store.keys("chat:{main}:proc:*")) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(store.keys("chat:{main}:proc:*")) == 2, server.output()
    assert telnet_listeners(server.tcp_port) == 2
    chat_works(server)
    users = [TcpUser(server.tcp_port) for _ in range(8)]
    web = [WebUser(server.ws_url) for _ in range(4)]
    users[0].send("one room")
    for user in users[1:]:
        user.expect(lambda line: line.endswith("] one room"))
    for user in web:
        user.expect(type="message", text="one room")
    assert "WebSocket path: standard ASGI" in server.output()


def refused(server: ServerProcess) -> str:
    """Start a server that must refuse to run; its output once it has exited."""
    try:
        with contextlib.suppress(RuntimeError):  # one worker may answer for a moment before the refusal
            server.start(timeout=30)
        assert server.wait(30) != 0
    finally:
        server.stop()
    return server.output()


def test_gunicorn_with_two_workers_refuses_to_start_without_redis(tmp_path: Path) -> None:
    output = refused(ServerProcess(tmp_path, command=GUNICORN))
    assert "another process is already serving the room kept in" in output, output
    assert "set REDIS_URL, or run a single process" in output
    assert "Traceback" not in output


def test_a_second_python_m_app_on_the_same_history_refuses_to_start(server: ServerProcess, tmp_path: Path) -> None:
    output = refused(ServerProcess(tmp_path, {"CHAT_DB": server.env["CHAT_DB"]}))
    assert "REDIS_URL is not set" in output
    assert server.health()["status"] == "ok"


def test_python_m_app_starts_without_a_warning(server: ServerProcess) -> None:
    server.tcp(nick="first").send("hello")  # the SSH library is loaded, the doors are open and used
    assert re.findall(r"\w+Warning\b.*", server.output()) == []


@pytest.mark.parametrize("told", ["--host", "UVICORN_HOST"])
def test_under_uvicorn_the_chat_doors_listen_where_the_web_port_does(told: str, tmp_path: Path, stopper) -> None:
    """HOST is not set. uvicorn is told 127.0.0.1 on its command line, which no documented API lets
    the app read (the doors take uvicorn's default, 127.0.0.1, and the log warns), or in
    UVICORN_HOST, which the app reads as uvicorn does."""
    doors = {"CHAT_TLS_PORT": str(free_port()), "CHAT_SSH_PORT": str(free_port()), **Certificates(tmp_path).env}
    doors["CHAT_SSH_HOST_KEY"] = str(tmp_path / "ssh_host_key")
    if told == "--host":
        server = ServerProcess(tmp_path, doors, [*UVICORN, "app.asgi:app"])
    else:
        uvicorn = [sys.executable, "-m", "uvicorn", "--port", "{port}", "app.asgi:app"]
        server = ServerProcess(tmp_path, {**doors, "UVICORN_HOST": "127.0.0.1"}, uvicorn)
    del server.env["HOST"]
    try:
        server.start(timeout=30)
        ports = [server.port, server.tcp_port, int(doors["CHAT_TLS_PORT"]), int(doors["CHAT_SSH_PORT"])]
        assert [listening_on(port) for port in ports] == [{"0100007F"}] * 4, server.output()  # 127.0.0.1 only
        chat_works(server)
        warned = "does not reach them. Set HOST (or UVICORN_HOST" in server.output()
        assert warned is (told == "--host")
    finally:
        stopper.stop(server)


def test_gunicorn_workers_label_their_metrics_and_log_each_event_once(launch: Launch, redis_server) -> None:
    server = launch(GUNICORN, REDIS_URL=redis_server.url)
    store = redis.Redis.from_url(redis_server.url)
    deadline = time.monotonic() + 20
    while len(store.keys("chat:{main}:proc:*")) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    workers = children(server.pid)
    assert len(workers) == 2
    for _ in range(6):  # each scrape is answered by one worker, which names itself on every series
        scraped = httpx.get(f"{server.http_url}/metrics", timeout=5).text
        samples = [sample for family in text_string_to_metric_families(scraped) for sample in family.samples]
        assert len(samples) > 20 and {sample.labels.get("worker") for sample in samples} <= {str(w) for w in workers}
    ann, bob = server.web("ann"), server.tcp(nick="bob")
    bob.send("logged once")
    ann.expect(type="message", text="logged once")

    def logged() -> list[str]:
        return [line for line in server.output().splitlines() if line.endswith("[bob] logged once")]

    deadline = time.monotonic() + 10
    while not logged() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert int(re.findall(r"\[(\d+)\] INFO", logged()[0])[0]) in workers  # the line names its worker
    time.sleep(2)  # both workers delivered it long ago: a second line would be here by now
    assert len(logged()) == 1, logged()


def children(pid: int) -> set[int]:
    """The processes whose parent is ``pid`` (gunicorn's workers)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if stat.read_text().rsplit(")", 1)[1].split()[1] == str(pid):
                found.add(int(stat.parent.name))
    return found

"""Nothing a client has seen is renumbered or silently lost: ``kill -9`` in the middle of a flood
of connections and messages, a disk that fills up, and a storm of joins and leaves."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import ServerProcess, TcpUser, WebUser, missing
from websockets.exceptions import ConnectionClosed

FAST = {
    "CHAT_RATE": "0",
    "CHAT_HISTORY": "5000",
    "CHAT_OUTBOX_BYTES": "100000000",
    "CHAT_LOG_LEVEL": "warning",
    "CHAT_CHURN_CALM": "1000000",  # every join and leave is announced with its id: every id is seen
}


class Flood:
    """Threads that connect and hang up on the TCP door as fast as they can (every cycle is a
    join and a leave), and one that keeps saying numbered lines."""

    def __init__(self, server: ServerProcess, label: str, cyclers: int = 4) -> None:
        self.server, self.label = server, label
        self.stop = threading.Event()
        self.said = 0
        self.threads = [threading.Thread(target=self._cycle) for _ in range(cyclers)]
        self.threads.append(threading.Thread(target=self._say))

    def __enter__(self) -> Flood:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(10)

    def _cycle(self) -> None:
        while not self.stop.is_set():
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.server.tcp_port), timeout=2).close()

    def _say(self) -> None:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.server.tcp_port)) as sock:
            while not self.stop.is_set():
                lines = range(self.said, self.said + 20)
                sock.sendall(b"".join(f"{self.label} line {n}\r\n".encode() for n in lines))
                self.said += 20
                time.sleep(0.01)


def everything(user: WebUser, timeout: float = 1.0) -> list[dict[str, Any]]:
    """What the server sends until it closes the connection or falls silent."""
    with contextlib.suppress(TimeoutError, ConnectionClosed):
        while True:
            user.next(timeout)
    return user.events


def identity(event: dict[str, Any]) -> tuple[str, str, str]:
    return event["type"], event.get("nick", ""), event.get("text", "")


def resumed_from(server: ServerProcess, since: int) -> list[dict[str, Any]]:
    """A page coming back with ``since``: everything up to the end of its replay."""
    user = server.web("resumer", query=f"since={since}")
    user.expect(type="system", code="live")
    user.close()
    return user.events


def check_resume(events: list[dict[str, Any]], since: int, seen: dict[int, tuple[str, str, str]]) -> None:
    """Every id in the replay means what it meant when it was first seen, and whatever was seen
    after ``since`` and is not replayed is covered by a gap frame."""
    replayed = {e["id"]: identity(e) for e in events if e.get("history")}
    assert list(replayed) == sorted(replayed) and min(replayed, default=since + 1) > since
    for id, what in replayed.items():
        if id in seen:
            assert what == seen[id], f"id {id} was renumbered: first seen as {seen[id]}, replayed as {what}"
    missing_ = [id for id, what in seen.items() if id > since and what[0] == "message" and id not in replayed]
    gaps = [e for e in events if e["type"] == "gap"]
    if missing_:
        assert gaps, f"{len(missing_)} messages seen after #{since} are gone without a gap frame"
        assert gaps[0]["missed"] >= len(missing_)


def first_said_now(server: ServerProcess, seen: dict[int, tuple[str, str, str]]) -> None:
    """Right after a restart, the first events get ids above every id seen before the crash."""
    probe = server.tcp()
    probe.close()
    late = server.web("late")
    late.say("after the crash")
    ids = [e["id"] for e in everything(late, 0.3) if "id" in e]
    assert ids and min(ids) > max(seen), f"ids {ids} seen before the crash (up to {max(seen)}) were handed out again"
    late.close()


@contextlib.contextmanager
def stalled(server: ServerProcess | None) -> Iterator[None]:
    """After half a second, hold the history file's write lock (as a slow disk or a backup tool
    would stall the writer) until the block ends: the writer falls behind what clients see."""
    if server is None:
        yield
        return
    time.sleep(0.5)
    with contextlib.closing(sqlite3.connect(server.env["CHAT_DB"], isolation_level=None)) as db:
        db.execute("BEGIN IMMEDIATE")
        yield
        db.execute("ROLLBACK")


def writer_lag(server: ServerProcess, duration: float) -> list[tuple[int, int]]:
    """The history writer's lag and its limit from /healthz, as often as it answers (none with Redis)."""
    seen = []
    deadline = time.monotonic() + duration
    while time.monotonic() < deadline:
        history = server.health()["history"]
        if "lag" in history:
            seen.append((history["lag"], history["lag_limit"]))
        time.sleep(0.02)
    return seen


def flood_and_kill(tmp_path: Path, env: dict[str, str], rounds: int, stall: bool) -> list[int]:
    """``rounds`` times: start the server on the same history, resume from the middle of what was
    seen before, flood it, stall its writer (``stall``), ``kill -9`` it mid-flood. Returns how
    many ids each round saw."""
    server = ServerProcess(tmp_path, {**FAST, **env})
    seen: dict[int, tuple[str, str, str]] = {}
    counts = []
    lags: list[tuple[int, int]] = []
    try:
        for round in range(rounds):
            server.start()
            if seen:
                first_said_now(server, seen)
                messages = sorted(id for id, what in seen.items() if what[0] == "message")
                since = messages[len(messages) // 2]
                check_resume(resumed_from(server, since), since, seen)
            watcher = server.web("watcher")
            with Flood(server, f"round{round}"), stalled(server if stall else None):
                watcher.expect(type="message", timeout=10)  # the flood is under way
                lags.extend(writer_lag(server, 1.5))
                server.signal(signal.SIGKILL)
                server.wait(10)
            fresh = {e["id"]: identity(e) for e in everything(watcher) if "id" in e}
            assert fresh and min(fresh) > max(seen, default=0), "an id seen before the crash was handed out again"
            seen.update(fresh)
            counts.append(len(fresh))
        server.start()
        first_said_now(server, seen)
        messages = sorted(id for id, what in seen.items() if what[0] == "message")
        since = messages[len(messages) // 2]
        check_resume(resumed_from(server, since), since, seen)
    finally:
        server.stop()
    assert all(lag <= limit for lag, limit in lags), f"the writer fell further behind than its limit: {max(lags)}"
    return counts


def test_kill_9_during_a_flood_never_reissues_a_seen_id(tmp_path: Path) -> None:
    counts = flood_and_kill(tmp_path, {}, rounds=3, stall=True)
    assert all(count > 50 for count in counts), counts


def test_kill_9_with_redis_never_reissues_a_seen_id(tmp_path: Path, redis_server) -> None:
    env = {"REDIS_URL": redis_server.url, "CHAT_REDIS_HEARTBEAT": "1"}
    counts = flood_and_kill(tmp_path, env, rounds=2, stall=False)
    assert all(count > 50 for count in counts), counts


def test_kill_9_during_a_flood_keeps_in_history_every_id_a_client_saw(tmp_path: Path) -> None:
    """Seen means stored: whatever any client was shown is in history after a ``kill -9``, from
    the middle of a flood, then with the writer held up (a slow disk: what waits is not shown)."""
    windows = {"CHAT_HISTORY": "20000", "CHAT_PRESENCE_HISTORY": "20000"}  # nothing falls out of history
    server = ServerProcess(tmp_path, {**FAST, **windows, "CHAT_HISTORY_WAIT": "60"})  # never shown unsaved
    seen: dict[int, tuple[str, str, str]] = {}
    try:
        for round, stall in enumerate((False, True)):
            server.start()
            watchers = [server.web(f"watcher{i}") for i in range(3)]
            with Flood(server, f"round{round}"):
                watchers[0].expect(type="message", text=f"round{round} line 1000", timeout=20)
                with stalled(server if stall else None):
                    if stall:
                        health_when(server, lambda h: h["history"]["lag"] >= 200)
                    server.signal(signal.SIGKILL)
                    server.wait(10)
            fresh = {e["id"]: identity(e) for watcher in watchers for e in everything(watcher) if "id" in e}
            assert sum(what[0] == "message" for what in fresh.values()) > 1000
            seen.update(fresh)
            server.start()
            kept = {e["id"]: identity(e) for e in resumed_from(server, 0) if e.get("history")}
            gone = sorted(set(seen) - set(kept))
            assert not gone, f"{len(gone)} of {len(seen)} events clients saw are not in history: #{gone[0]}…#{gone[-1]}"
            assert all(kept[id] == what for id, what in seen.items()), "every id means what it meant"
            server.stop()
    finally:
        server.stop()


def test_a_hung_disk_delays_delivery_at_most_the_history_wait_and_is_told(start_server) -> None:
    server = start_server(CHAT_RATE="0", CHAT_HISTORY_WAIT="0.2", CHAT_WEB_HISTORY="100")
    alice, bob = server.web("alice"), server.tcp(nick="bob")
    with stalled(server):  # the writer waits for the lock (up to SQLite's 5 s) as for a hung disk
        bob.send("while the disk hangs")
        alice.expect(type="message", text="while the disk hangs", timeout=4)
        health = server.health()
        assert health["status"] == "degraded", "shown before it is saved: told"
        assert "takes longer than 0.2 s: events are delivered before they are saved" in health["problem"]
    health_when(server, lambda h: h["status"] == "ok" and h["history"]["lag"] == 0)
    newcomer = server.web("newcomer")
    newcomer.expect(type="system", code="live")
    assert "while the disk hangs" in [e.get("text") for e in newcomer.events if e.get("history")]


# -- a full disk ---------------------------------------------------------------------------------


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB tmpfs, so a test can fill it up and free it again."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        missing("filling a disk needs root to mount a tmpfs")
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        missing(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Write a file until the disk has no room left; return it (unlink it to free the disk)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as out, contextlib.suppress(OSError):
        while True:
            out.write(b"\0" * 4096)
    return filler


def health_when(server: ServerProcess, ready: Any, timeout: float = 15.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        health = server.health()
        if ready(health):
            return health
        assert time.monotonic() < deadline, f"/healthz never got there: {health}"
        time.sleep(0.05)


def said_until_full(server: ServerProcess, disk: Path, lines: int) -> tuple[WebUser, TcpUser, int, int, Path]:
    """bob says five lines that are saved, the disk fills up, and he says ``lines`` more, which
    alice still gets. Returns both users, the last saved id, the last id alice saw, the filler."""
    alice, bob = server.web("alice"), server.tcp(nick="bob")
    for i in range(5):
        bob.send(f"before {i}")
    saved = alice.expect(type="message", text="before 4")["id"]
    health_when(server, lambda h: h["history"]["persisted_id"] == h["history"]["last_id"])
    filler = fill(disk)
    for i in range(lines):
        bob.send(f"while full {i} " + "x" * 500)
    seen = alice.expect(type="message", text=f"while full {lines - 1} {'x' * 500}")["id"]
    assert seen > saved, "the chat goes on"
    return alice, bob, saved, seen, filler


def test_a_full_disk_keeps_the_chat_going_and_is_told(tiny_disk: Path, start_server) -> None:
    server = start_server(CHAT_DB=str(tiny_disk / "chat.db"), CHAT_RATE="0", CHAT_WEB_HISTORY="1000")
    alice, bob, _, _, filler = said_until_full(server, tiny_disk, 40)
    health = health_when(server, lambda h: h["status"] == "degraded")
    assert "database or disk is full" in health["problem"]
    assert health["history"]["persisted_id"] < health["history"]["last_id"], "nothing unsaved is reported as saved"
    assert health["history"]["lag"] == health["history"]["last_id"] - health["history"]["persisted_id"]
    for i in range(20):
        bob.send(f"still full {i}")
    alice.expect(type="message", text="still full 19")

    filler.unlink()
    health = health_when(server, lambda h: h["status"] == "ok" and h["history"]["lag"] == 0)
    assert "problem" not in health
    assert server.output().count("cannot save history") == 1, "one warning per outage, not one per attempt"
    assert "history is saved to" in server.output()

    replay = server.web("newcomer")
    replay.expect(type="system", code="live")
    texts = [e["text"] for e in replay.events if e["type"] == "message"]
    assert texts[:5] == [f"before {i}" for i in range(5)]
    assert texts[-1] == "still full 19" and len(texts) == 65, "what waited for the disk was kept and saved"


def test_a_crash_while_the_disk_is_full_is_told_after_the_restart(tiny_disk: Path, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path, {**FAST, "CHAT_DB": str(tiny_disk / "chat.db")}).start()
    try:
        _, _, saved, last_seen, filler = said_until_full(server, tiny_disk, 30)
        health_when(server, lambda h: h["status"] == "degraded")
        server.signal(signal.SIGKILL)
        server.wait(10)
        filler.unlink()
        server.start()

        events = resumed_from(server, saved - 2)
        assert [e["text"] for e in events if e["type"] == "message"][:2] == ["before 3", "before 4"]
        gap = next(e for e in events if e["type"] == "gap")
        assert gap["missed"] >= 30, "at least the 30 messages seen while the disk was full"
        assert gap["text"].startswith("Up to ") and "lost when the server stopped unexpectedly" in gap["text"]
        alice = server.web("alice")
        alice.say("back")
        assert alice.expect(type="message", text="back")["id"] > last_seen
    finally:
        server.stop()


# -- churn -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("engine", ["sqlite", "redis"])
def test_a_storm_of_joins_and_leaves_keeps_the_conversation(start_server, request, engine: str) -> None:
    env = {
        "CHAT_QUIET_GRACE": "0",
        "CHAT_RATE": "0",
        "CHAT_HISTORY": "50",
        "CHAT_PRESENCE_HISTORY": "10",
        "CHAT_WEB_HISTORY": "50",
    }
    if engine == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_server").url
    server = start_server(**env)
    ann = server.web("ann")
    ann.say("remember this")
    first = ann.expect(type="message", text="remember this")["id"]
    for i in range(20):
        ann.say(f"point {i}")
    ann.expect(type="message", text="point 19")
    for _ in range(200):  # 400 presence events, eight times the history
        socket.create_connection(("127.0.0.1", server.tcp_port), timeout=5).close()
    deadline = time.monotonic() + 10  # with Redis the storm's events are numbered a batch at a time
    while server.health()["history"]["presence"] < 10 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.health()["history"]["presence"] == 10
    said = ["remember this", *(f"point {i}" for i in range(20))]

    def replays_the_conversation(moment: str) -> None:
        resumed = resumed_from(server, first - 1)
        assert not any(e["type"] == "gap" for e in resumed), moment
        assert [e["text"] for e in resumed if e["type"] == "message"] == said, moment
        newcomer = server.web("newcomer")
        newcomer.expect(type="system", code="live")
        replayed = [e["text"] for e in newcomer.events if e["type"] == "message"]
        assert replayed == said, f"the newcomer sees what was said ({moment})"
        newcomer.close()

    replays_the_conversation("during the storm")
    ann.close()
    server.stop()
    server.start()  # it reads history back from its store
    replays_the_conversation("after a restart")

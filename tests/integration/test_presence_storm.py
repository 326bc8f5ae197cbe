"""A reconnect storm into a big room, scaled down: a few hundred WebSocket clients arrive and a
hundred leave while everyone reads. Each reader gets a few presence frames per window, not one
per newcomer, and who is here stays exact: in the summaries, in /who and in the page's list."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from support import ServerProcess
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

WINDOW = 0.25
"""CHAT_PRESENCE_WINDOW here: seconds over which a big room's comings and goings are folded."""
CROWD = 10
"""CHAT_PRESENCE_CROWD here: with CHAT_CHURN_CALM 10, a room of 100 or more names one notice a window."""
SETTLED = 120
ARRIVING = 200
LEAVING = 100
PRESENCE = {"join", "leave", "presence"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        "CHAT_RATE": "0",
        "CHAT_CHURN_CALM": "10",
        "CHAT_PRESENCE_CROWD": str(CROWD),
        "CHAT_PRESENCE_WINDOW": str(WINDOW),
    }
    server = ServerProcess(tmp_path_factory.mktemp("presence"), env).start()
    yield server
    server.stop()


@dataclass
class Reader:
    """A page's view of the room: every frame it got, and the people list kept from them as
    static/js/users.js keeps it."""

    ws: ClientConnection
    frames: list[dict[str, Any]] = field(default_factory=list)
    people: set[str] = field(default_factory=set)
    total: int = 0
    """How many the page says are here."""
    sampled: bool = False
    """A summary named a sample instead of who came and went: the list is a sample since."""

    async def read(self) -> None:
        try:
            async for data in self.ws:
                decoded = json.loads(data)
                for frame in decoded if isinstance(decoded, list) else [decoded]:
                    self.frames.append(frame)
                    self._keep(frame)
        except ConnectionClosed:
            pass

    def _keep(self, frame: dict[str, Any]) -> None:
        kind = frame["type"]
        if kind == "welcome" or (kind == "presence" and frame.get("code") == "sample"):
            self.people = {u["nick"] for u in frame["users"]}
            self.total = frame.get("total", len(self.people))
            self.sampled = self.sampled or kind == "presence"
        elif kind == "presence":
            self.people |= {u["nick"] for u in frame["users"]}
            self.people -= {u["nick"] for u in frame["left"]}
            self.total = frame["total"]
        elif kind == "join":
            self.total += frame["nick"] not in self.people
            self.people.add(frame["nick"])
        elif kind == "leave":
            self.total -= 1
            self.people.discard(frame["nick"])

    def presence_frames(self, since: int = 0) -> int:
        """Frames about comings and goings from the ``since``-th frame on (a batch's every event counts)."""
        return sum(frame["type"] in PRESENCE for frame in self.frames[since:])

    async def until(self, done: Any, timeout: float = 30.0) -> dict[str, Any]:
        """The first frame (from now on, or already here) for which ``done`` holds."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for frame in self.frames[seen:]:
                if done(frame):
                    return frame
            seen = len(self.frames)
            await asyncio.sleep(0.01)
        raise TimeoutError(f"not seen; last frames: {self.frames[-5:]}")


async def arrive(server: ServerProcess, nicks: list[str], tasks: list[asyncio.Task[None]]) -> list[Reader]:
    """Connect everyone at once (50 handshakes at a time), each reading from the start."""
    gate = asyncio.Semaphore(50)

    async def one(nick: str) -> Reader:
        async with gate:
            ws = await connect(f"{server.ws_url}?nick={nick}", open_timeout=30, ping_interval=None)
        reader = Reader(ws)
        tasks.append(asyncio.create_task(reader.read()))
        return reader

    return list(await asyncio.gather(*(one(nick) for nick in nicks)))


async def counting(reader: Reader, total: int, timeout: float = 30.0) -> None:
    """Until the page shows ``total`` people here."""
    deadline = time.monotonic() + timeout
    while reader.total != total:
        assert time.monotonic() < deadline, f"the page shows {reader.total}, not {total}: {reader.frames[-5:]}"
        await asyncio.sleep(0.01)


def test_a_big_room_reads_a_storm_as_a_few_frames_a_window_and_who_is_here_stays_exact(server: ServerProcess) -> None:
    async def storm() -> None:
        tasks: list[asyncio.Task[None]] = []
        [watcher] = await arrive(server, ["watcher"], tasks)
        settled = await arrive(server, [f"settled{i}" for i in range(SETTLED)], tasks)
        await counting(watcher, 1 + SETTLED)
        before = len(watcher.frames)
        started = time.monotonic()

        arrivals = await arrive(server, [f"crowd{i}" for i in range(ARRIVING)], tasks)
        for reader in settled[:LEAVING]:
            await reader.ws.close()
        present = 1 + SETTLED + ARRIVING - LEAVING
        await counting(watcher, present)
        elapsed = time.monotonic() - started

        # Per window at most two: the first notice by name, then the summary of the rest.
        bound = 2 * (elapsed / WINDOW + 2)
        notices = ARRIVING + LEAVING
        assert watcher.presence_frames(before) <= bound < notices / 2, (watcher.presence_frames(before), elapsed)
        newest = max(arrivals, key=lambda reader: reader.presence_frames())
        assert newest.presence_frames() <= bound, "an arrival's view of the storm is as light"

        connected = {"watcher", *(f"settled{i}" for i in range(LEAVING, SETTLED))}
        connected |= {f"crowd{i}" for i in range(ARRIVING)}
        if watcher.sampled:  # too many in one window to name: a sample of who is here, and the total
            assert watcher.people <= connected
        else:
            assert watcher.people == connected, "the page's list, kept from the frames, is exact"
        summaries = [frame for frame in watcher.frames[before:] if frame["type"] == "presence"]
        assert summaries, "the storm was summarised"
        assert all(frame["text"].endswith(f"— {frame['total']} here now") for frame in summaries)

        await watcher.ws.send(json.dumps({"type": "say", "text": "/who"}))
        who = await watcher.until(lambda frame: frame["type"] == "users")
        assert who["total"] == present
        assert {u["nick"] for u in who["users"]} <= connected

        await asyncio.sleep(2 * WINDOW)  # the room is quiet: a window has passed since its last notice
        mark = len(watcher.frames)
        [lonely] = await arrive(server, ["lonely"], tasks)
        join = await watcher.until(lambda frame: frame["type"] == "join" and frame["nick"] == "lonely")
        assert watcher.frames.index(join) >= mark
        assert not [f for f in watcher.frames[mark:] if f["type"] == "presence"], "a lone join is not summarised"

        for reader in [watcher, lonely, *settled[LEAVING:], *arrivals]:
            await reader.ws.close()
        await asyncio.gather(*tasks)

    asyncio.run(storm())

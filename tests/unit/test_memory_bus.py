"""The embedded bus with its SQLite store: an event reaches clients only once it is written, one
commit per loop turn, and a reply waits for what was published before it."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.bus.history import History
from app.bus.memory import InProcessBus
from app.bus.sqlite import SqliteStore
from app.domain.events import Event, Kind


def said(text: str) -> Event:
    return Event(Kind.MESSAGE, nick="ann", text=text)


async def until(done, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    async with asyncio.timeout(timeout):
        while not done():
            await asyncio.sleep(0.005)


def test_a_turns_events_are_written_together_and_delivered_once_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def run() -> None:
        store = SqliteStore(tmp_path / "chat.db", 100)
        batches: list[list[str]] = []
        save = store.save
        monkeypatch.setattr(store, "save", lambda batch: (batches.append([e.text for e in batch]), save(batch)))
        bus = InProcessBus(History(), store)
        shown: list[tuple[str, int]] = []  # each delivered event's text, and what was on disk then
        await bus.start(lambda event: shown.append((event.text, store.persisted_id)))
        for text in ("one", "two", "three"):
            bus.publish(said(text))
        assert shown == [] and bus.history.recent(10) == [], "nothing is shown or replayed before it is written"
        await until(lambda: len(shown) == 3)
        assert [text for text, _ in shown] == ["one", "two", "three"]
        assert all(on_disk >= bus.last_id for _, on_disk in shown), "each was on disk when it was shown"
        assert batches == [["one", "two", "three"]], "the turn's events go to the writer together"
        assert [e.text for e in bus.history.recent(10)] == ["one", "two", "three"]
        await bus.stop()

    asyncio.run(run())


def test_a_reply_waits_for_the_events_published_before_it(tmp_path: Path) -> None:
    async def run() -> None:
        bus = InProcessBus(History(), SqliteStore(tmp_path / "chat.db", 100))
        seen: list[str] = []
        await bus.start(lambda event: seen.append(event.text))
        bus.after_delivered(lambda: seen.append("nothing waits: at once"))
        bus.publish(said("hello"))
        bus.after_delivered(lambda: seen.append("reply"))
        bus.publish(said("after the reply"))
        assert seen == ["nothing waits: at once"]
        await until(lambda: len(seen) == 4)
        assert seen == ["nothing waits: at once", "hello", "reply", "after the reply"]
        await bus.stop()

    asyncio.run(run())


def test_after_a_crash_a_reply_waits_for_nothing_earlier_runs_numbered(tmp_path: Path) -> None:
    async def run() -> None:
        crashed = SqliteStore(tmp_path / "chat.db", 100)
        crashed.load()  # reserves ids and dies without a clean stop: the next run numbers above them
        bus = InProcessBus(History(), SqliteStore(tmp_path / "chat.db", 100))
        await bus.start(lambda event: None)
        assert bus.last_id > 0
        replies: list[str] = []
        bus.after_delivered(lambda: replies.append("welcome"))
        assert replies == ["welcome"]
        await bus.stop()

    asyncio.run(run())

"""A claim on a record (a room's founding) is taken by the first to make it, in every store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from app.bus.moderation import MemoryStore, ModerationStore, SqliteModeration, Table
from app.bus.sqlite import SqliteStore


def store_of(kind: str, tmp_path: Path) -> ModerationStore:
    if kind == "memory":
        return MemoryStore()
    SqliteStore(tmp_path / "chat.db", 100).load()  # makes the file's tables
    return SqliteModeration(str(tmp_path / "chat.db"))


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_the_first_claim_wins_and_the_second_changes_nothing(kind: str, tmp_path: Path) -> None:
    async def claims() -> tuple[bool, bool, dict[str, str]]:
        store = store_of(kind, tmp_path)
        try:
            first = await store.put_new(Table.FOUNDERS, "#dev", '{"session":"a:1"}')
            second = await store.put_new(Table.FOUNDERS, "#dev", '{"session":"b:1"}')
            return first, second, await store.read(Table.FOUNDERS)
        finally:
            await store.close()

    assert asyncio.run(claims()) == (True, False, {"#dev": '{"session":"a:1"}'})

"""The audit log as records: each engine keeps them and reads them back by room; a room's operators
are shown their room's without addresses or removed text; what a person wrote is cleaned."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import redis

from app.bus.moderation import LOG_KEPT, MemoryStore, ModerationStore, RedisModeration, SqliteModeration
from app.bus.redis_keys import Keys
from app.bus.sqlite import SqliteStore
from app.domain.audit import SERVER, AuditRecord, Noted
from app.domain.moderation import Action

NOON = 1_765_195_200.0  # 2025-12-08 12:00:00 UTC

KICK = AuditRecord.of(NOON, "#dev", "op", Action.KICK, "ann", detail="flooding")
REDACT = AuditRecord.of(
    NOON + 1, "#dev", "op", Action.REDACT, "a message from bob", detail="#12", removed="my card is 4111"
)
BAN = AuditRecord.of(NOON + 2, "#dev", "root", Action.BAN, "eve", detail="permanent", address="203.0.113.7/32")
MUTE = AuditRecord.of(NOON + 3, "#ops", "op", Action.MUTE, "carl", detail="10 minutes")
FOUNDED = AuditRecord.of(NOON + 4, "#dev", "dan", Noted.FOUNDED, "#dev")
ALL = [KICK, REDACT, BAN, MUTE, FOUNDED]


@pytest.fixture(params=["memory", "sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ModerationStore:
    """An engine; a test closes it on the loop it used it on."""
    engine: ModerationStore
    if request.param == "memory":
        engine = MemoryStore()
    elif request.param == "sqlite":
        SqliteStore(tmp_path / "chat.db", 100).load()  # makes the file and its tables, as at start-up
        engine = SqliteModeration(str(tmp_path / "chat.db"))
    else:
        engine = RedisModeration(request.getfixturevalue("redis_server").url, "audit-test")
    return engine


def test_each_engine_reads_a_rooms_records_or_all_of_them(store: ModerationStore) -> None:
    async def job() -> tuple[list[AuditRecord], ...]:
        for record in ALL:
            await store.append_log(record)
        found = (
            await store.log(10, "#dev"),
            await store.log(10, "#ops"),
            await store.log(10, "#dev2"),
            await store.log(10, None),
            await store.log(2, "#dev"),
            await store.log(10, SERVER),
        )
        await store.close()
        return found

    dev, ops, nowhere, everything, newest, server = asyncio.run(job())
    assert dev == [KICK, REDACT, FOUNDED], "the ban is the server's, whichever room it was typed in"
    assert ops == [MUTE]
    assert nowhere == [], "a room is its name, not a prefix or a substring of another's"
    assert everything == ALL
    assert newest == [REDACT, FOUNDED]
    assert server == [BAN]


def test_a_busy_room_does_not_push_a_quiet_rooms_records_out() -> None:
    store = MemoryStore()

    async def job() -> list[AuditRecord]:
        await store.append_log(MUTE)
        for i in range(LOG_KEPT + 5):
            await store.append_log(AuditRecord.of(NOON + i, "#dev", "op", Action.KICK, f"n{i}"))
        return await store.log(5, "#ops")

    assert asyncio.run(job()) == [MUTE]


@pytest.mark.parametrize(
    ("record", "room_view", "server_view"),
    [
        (KICK, "#dev ann was kicked by op: flooding", "#dev ann was kicked by op: flooding"),
        (
            REDACT,
            "#dev a message from bob was removed by op: #12",
            "#dev a message from bob was removed by op: #12 (it said: my card is 4111)",
        ),
        (BAN, "eve was banned by root: permanent", "eve was banned by root: permanent (from 203.0.113.7/32)"),
        (FOUNDED, "#dev dan founded #dev", "#dev dan founded #dev"),
        (AuditRecord.of(NOON, "", "ann", Noted.REGISTERED), "ann registered", "ann registered"),
    ],
)
def test_a_room_view_leaves_out_addresses_and_removed_text(
    record: AuditRecord, room_view: str, server_view: str
) -> None:
    assert record.text(full=False) == room_view
    assert record.text(full=True) == server_view
    assert record.line(full=False) == f"2025-12-08 12:00:0{int(record.time - NOON)} {room_view}"


@pytest.mark.parametrize(
    "reason",
    [
        "\x1b]52;c;ZXZpbA==\x07 reason",  # OSC 52: write the reader's clipboard
        "\x1b[2J\x1b[H reason",  # clear the screen
        "\x1b]0;owned\x07 reason",  # set the window title
        "\x07\x07 reason",  # bell
        "\u202e\u2066 reason",  # bidi override and isolate
        "\x9b2J\x85 reason",  # C1 CSI and NEL
        "\n2026-12-08 00:00:00 root banned everyone\r\n reason",  # a forged line of the log
        "\u2028\u2029\v\f reason",
    ],
)
def test_a_records_words_are_cleaned_when_made_and_when_shown(reason: str) -> None:
    record = AuditRecord.of(NOON, "#dev", "op", Action.KICK, "ann", detail=reason)
    assert record.detail.endswith("reason")
    assert record.text(full=True).isprintable()
    stored_raw = AuditRecord(NOON, "#dev", "op", Action.KICK.value, "ann", detail=reason)  # written before cleaning
    assert stored_raw.text(full=True).isprintable()
    assert AuditRecord.read(stored_raw.record()) == stored_raw, "JSON keeps it whole, on one line"
    assert "\n" not in stored_raw.record()


def test_a_line_from_before_records_is_read_as_a_server_wide_record() -> None:
    old = AuditRecord.parse("2025-12-08 12:00:00 #dev: op banned 203.0.113.7/32 (permanent) with the nick")
    assert (old.room, old.time) == (SERVER, NOON)
    assert old.line(full=True) == "2025-12-08 12:00:00 #dev: op banned 203.0.113.7/32 (permanent) with the nick"
    assert AuditRecord.parse("[1, 2]").detail == "[1, 2]"
    newer = '{"time": 1.0, "room": "#a", "actor": "op", "action": "kick", "target": "x", "colour": "red"}'
    assert AuditRecord.parse(newer).room == "#a", "a field a newer release added is ignored"


OLD_LINE = "2025-12-08 12:00:00 op banned 203.0.113.7/32 (permanent) with the nick"


def test_redis_reads_the_lines_it_kept_before_records_as_server_wide(redis_server: Any) -> None:
    with redis.Redis.from_url(redis_server.url) as plain:
        plain.rpush(Keys("audit-legacy").moderation + "log", OLD_LINE)  # as the release before records wrote it
    store = RedisModeration(redis_server.url, "audit-legacy")

    async def job() -> tuple[list[AuditRecord], list[AuditRecord]]:
        await store.append_log(KICK)
        found = await store.log(5, None), await store.log(5, "#dev")
        await store.close()
        return found

    everything, dev = asyncio.run(job())
    assert [record.line(full=True) for record in everything] == [
        OLD_LINE,
        "2025-12-08 12:00:00 #dev ann was kicked by op: flooding",
    ]
    assert dev == [KICK]

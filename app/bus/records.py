"""How events and members are written into Redis: compact JSON that every process reads back.

Only the fields a public or private event carries between processes are stored; the id and time
are the stream entry's own (given by Redis), so they are never duplicated in the payload.
"""

from __future__ import annotations

import json
from typing import Any

from app.domain.events import Event, Gateway, Kind
from app.domain.room import RemoteMember
from app.domain.rooms import room_name

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


class RecordError(ValueError):
    """A record in Redis that this version cannot read (written by hand, or by another program)."""


def event_record(event: Event) -> str:
    """The event as compact JSON, leaving out empty fields."""
    record: dict[str, Any] = {"kind": event.kind.value}
    for name in ("nick", "text", "old", "to", "code", "origin", "process"):
        value = getattr(event, name)
        if value:
            record[name] = value
    if event.gateway is not None:
        record["gateway"] = event.gateway.value
    if event.room:
        record["room"] = event.room
    if event.spans:
        record["spans"] = list(event.spans)
    return _dumps(record)


def read_event(record: str, id: int = 0, ts: float = 0.0) -> Event:
    """The event an ``event_record`` describes, with the id and time of its stream entry."""
    try:
        data = json.loads(record)
        gateway = data.get("gateway")
        return Event(
            Kind(data["kind"]),
            nick=str(data.get("nick", "")),
            text=str(data.get("text", "")),
            old=str(data.get("old", "")),
            to=str(data.get("to", "")),
            code=str(data.get("code", "")),
            origin=int(data.get("origin", 0)),
            process=str(data.get("process", "")),
            gateway=Gateway(gateway) if gateway else None,
            room=room_name(str(data["room"])) if data.get("room") else "",
            spans=tuple(room_name(str(name)) for name in data.get("spans", ())),
            id=id,
            ts=ts,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as problem:
        raise RecordError(f"unreadable event record {record[:80]!r}") from problem


def read_entry(entry_id: str, fields: dict[str, str]) -> Event:
    """An event from a stream entry: its id is the entry id's first part (``<id>-0``)."""
    try:
        id = int(entry_id.split("-", 1)[0])
        ts = float(fields["ts"])
        record = fields["e"]
    except (ValueError, KeyError) as problem:
        raise RecordError(f"unreadable stream entry {entry_id}") from problem
    return read_event(record, id, ts)


def member_record(nick: str, gateway: Gateway, process: str, conn: int) -> str:
    """A presence entry: who holds a nick, and which process and connection they are on."""
    return _dumps({"nick": nick, "gateway": gateway.value, "proc": process, "conn": conn})


def read_member(record: str) -> RemoteMember:
    try:
        data = json.loads(record)
        return RemoteMember(str(data["nick"]), Gateway(data["gateway"]), str(data["proc"]), int(data["conn"]))
    except (ValueError, KeyError, TypeError) as problem:
        raise RecordError(f"unreadable presence record {record[:80]!r}") from problem

"""The WebSocket JSON protocol: events to JSON text, client frames to input lines.

Server to client, each frame holds one JSON object, or a JSON array of objects when several
events were waiting for the same client (clients must accept both). A frame never exceeds the
message limit: more events than fit go out as several arrays.
Client to server: ``{"type": "say", "text": "...", "room": "#dev"}`` (``room`` optional: the
client's current room); a frame that is not a JSON object is taken as one line of input, so
people can chat by hand with websocat or wscat. docs/protocol.md has the table of every frame.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, NamedTuple

from app.domain.events import Event, Kind, RoomInfo, User
from app.domain.rooms import RoomError, room_name
from app.domain.text import shown, shown_lines

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_NOTICES = frozenset({Kind.SYSTEM, Kind.ERROR})
"""Kinds whose text is the server's, which may hold several lines; in every other kind, text is one
line, and any user text in it is ``shown`` again (it may have been stored before it was cleaned)."""


class FrameError(ValueError):
    """A client frame we cannot use; the message says why, for an ``error`` frame."""


def iso_time(ts: float) -> str:
    """Server time as ISO 8601 UTC with milliseconds, e.g. 2026-11-26T14:03:05.123Z."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def event_to_dict(event: Event, own: bool = False) -> dict[str, Any]:
    """The JSON object for one event; ``own`` marks it as the reader's own message."""
    kind = event.kind
    obj: dict[str, Any] = {"type": kind.value}
    if event.id:
        obj["id"] = event.id
    if event.ts:
        obj["ts"] = iso_time(event.ts)
    if event.nick:
        obj["nick"] = event.nick
    if kind is Kind.NICK:
        obj["old"] = event.old
    if kind is Kind.PRIVATE:
        obj["to"] = event.to
    elif kind is Kind.MODERATION:
        obj["target"] = shown(event.to)
    elif kind is Kind.IDENTIFIED:
        obj["token"] = event.to
    if event.room:
        obj["room"] = event.room
    if kind is Kind.ROOM:
        obj["topic"] = shown(event.text)
    elif event.text or kind in (Kind.MESSAGE, Kind.ACTION, Kind.TOPIC):
        obj["text"] = shown_lines(event.text) if kind in _NOTICES else shown(event.text)
    if event.gateway is not None:
        obj["gateway"] = event.gateway.value
    if event.rooms or kind is Kind.ROOMS:
        obj["rooms"] = [_room_info(info) for info in event.rooms]
    if event.users or kind in (Kind.USERS, Kind.WELCOME, Kind.PRESENCE, Kind.ROOM):
        obj["users"] = [_user(u) for u in event.users]
    if kind is Kind.PRESENCE:
        obj["left"] = [{"nick": u.nick, "gateway": u.gateway.value} for u in event.left]
    if event.total:
        obj["total"] = event.total
    if event.code:
        obj["code"] = event.code
    if event.missed:
        obj["missed"] = event.missed
    if event.history:
        obj["history"] = True
    if own:
        obj["self"] = True
    return obj


def _user(user: User) -> dict[str, Any]:
    entry: dict[str, Any] = {"nick": user.nick, "gateway": user.gateway.value}
    if user.op:
        entry["op"] = True
    return entry


def _room_info(info: RoomInfo) -> dict[str, Any]:
    return {"name": info.name, "members": info.members, "topic": shown(info.topic)}


def encode_event(event: Event, own: bool = False) -> str:
    """One event as the JSON text of a frame."""
    return _dumps(event_to_dict(event, own))


def batch(texts: list[str]) -> str:
    """Several encoded events as one frame: a JSON array, built without re-encoding them."""
    return texts[0] if len(texts) == 1 else "[" + ",".join(texts) + "]"


def batches(texts: list[str], limit: int) -> list[bytes]:
    """Several encoded events as few frame payloads as they fit in, each a JSON object or array
    of at most ``limit`` bytes, in order. An event larger than ``limit`` alone cannot be cut:
    it goes in a payload of its own (the settings keep events well below the limit)."""
    payload = batch(texts).encode()
    if len(payload) <= limit:
        return [payload]
    payloads: list[bytes] = []
    group: list[bytes] = []
    size = 1  # "[" + each event and its "," (the last one's is the "]")
    for text in texts:
        encoded = text.encode()
        if group and size + len(encoded) + 1 > limit:
            payloads.append(_array(group))
            group, size = [], 1
        group.append(encoded)
        size += len(encoded) + 1
    payloads.append(_array(group))
    return payloads


def _array(encoded: list[bytes]) -> bytes:
    return encoded[0] if len(encoded) == 1 else b"[" + b",".join(encoded) + b"]"


class Said(NamedTuple):
    """A line of input, and the room it was typed for (None: the client's current room)."""

    line: str
    room: str | None = None


def decode_frame(text: str) -> Said:
    """The input line a client frame carries, or FrameError saying what is wrong with it."""
    stripped = text.lstrip()
    if not stripped.startswith("{"):
        return Said(text)
    try:
        frame = json.loads(text)
    except ValueError:
        raise FrameError('Malformed JSON: send {"type": "say", "text": "..."}') from None
    except RecursionError:  # a frame of nothing but brackets fits easily in the frame size limit
        raise FrameError('JSON nested too deeply: send {"type": "say", "text": "..."}') from None
    if not isinstance(frame, dict):
        return Said(text)
    kind = frame.get("type")
    if kind != "say":
        raise FrameError(f'Unknown frame type {kind!r}: the only type a client sends is "say"')
    line = frame.get("text")
    if not isinstance(line, str):
        raise FrameError('A "say" frame needs "text" as a string')
    room = frame.get("room")
    if room is not None and not isinstance(room, str):
        raise FrameError('A "say" frame\'s "room" is a room name as a string, like "#dev"')
    return Said(line, room or None)


def _id(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 18 else None


def resume_params(rooms: str, since: str) -> tuple[tuple[str, ...], int | dict[str, int] | None]:
    """The rooms a client asks for in its URL (``rooms=dev,ops``: names without ``#``, which
    would start the URL's fragment; the first is current) and where it resumes each one:
    ``since=120`` (every room after id 120: right where ids are one sequence for the server, or
    for a client in one room) or ``since=dev:120,ops:7`` (each room after its own).
    Rooms come back in joining order (current last); an unreadable ``since`` entry is left out,
    and that room gets the usual replay."""
    names = tuple(name.strip() for name in rooms.split(",") if name.strip())[:64]
    whole = _id(since.strip())
    if whole is not None or ":" not in since:
        return names[::-1], whole
    resume: dict[str, int] = {}
    for entry in since.split(",")[:64]:
        name, _, id = entry.partition(":")
        try:
            key = room_name(name)
        except RoomError:
            continue
        value = _id(id.strip())
        if value is not None:
            resume[key] = value
    return names[::-1], resume

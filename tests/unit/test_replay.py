"""Replays: packed once per room, stretch of history and kind of client, and shared; what they
weigh is what an address pays; a redaction is never replayed from an old packing."""

from __future__ import annotations

import json

from app.bus.history import History
from app.delivery.replay import Replayer
from app.domain.events import Event, Kind
from app.gateways.websocket import JsonCodec


def message(id: int, text: str) -> Event:
    return Event(Kind.MESSAGE, nick="ann", text=text, id=id, ts=1_700_000_000.0 + id, room="#main")


def texts(replayer: Replayer, codec: JsonCodec) -> list[str]:
    run = replayer.prepare(codec, "#main", 0, 0).run
    frames = [json.loads(piece[2:] if piece[1] < 126 else piece[4:]) for piece in run.pieces]
    return [event["text"] for frame in frames for event in (frame if isinstance(frame, list) else [frame])]


def test_clients_asking_for_the_same_history_share_one_packed_run() -> None:
    history = History(100)
    for id in range(1, 6):
        history.append(message(id, f"m{id}"))
    replayer, codec = Replayer(history), JsonCodec()
    first, second = (replayer.prepare(codec, "#main", 0, 0) for _ in range(2))
    assert first.run is second.run, "packed once, shared"
    assert first.size == sum(map(len, first.run.pieces)) > 0 and first.run.events == 5
    assert replayer.prepare(codec, "#main", None, 3).run.events == 3, "a newcomer's last events are another run"
    assert replayer.prepare(codec, "#main", 5, 0).size == 0, "nothing missed weighs nothing"
    assert replayer.wanted("#main", 4, 0) and not replayer.wanted("#main", 5, 0)
    assert replayer.wanted("#main", None, 20) and not replayer.wanted("#main", None, 0)


def test_a_redacted_message_is_never_replayed_from_an_earlier_packing() -> None:
    history = History(100)
    for id in range(1, 4):
        history.append(message(id, f"m{id}"))
    replayer, codec = Replayer(history), JsonCodec()
    assert texts(replayer, codec) == ["m1", "m2", "m3"]
    history.redact(2, "#main")
    assert texts(replayer, codec) == ["m1", "", "m3"]

"""History shown to a client: the replay on connecting or joining a room, a resume after some id,
and /history. Replayed events are encoded once per kind of client, since every newcomer of a
room gets the same recent events."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from app.bus.history import Gap, History
from app.codecs.lines import LIVE, format_lines
from app.domain.events import Event, Kind
from app.fanout import Codec

Send = Callable[[Event], None]

HISTORY_PART = 8000
"""Characters of /history in one notice: a long history is shown in several, each well within a
WebSocket message's 64 KiB even when every character takes 4 bytes of UTF-8 (or is escaped)."""


class Replayer:
    def __init__(self, history: History) -> None:
        self.history = history
        self._encoded: dict[tuple[Codec, str, int, float, bool], bytes | str | None] = {}  # type: ignore[type-arg]
        """Replayed events, encoded once per codec (and once more as aside, for a room that is
        not the reader's current one)."""

    def replay(
        self,
        codec: Codec,  # type: ignore[type-arg]
        send: Callable[[bytes | str], None],
        tell: Send,
        room: str,
        since: int | None,
        count: int,
        aside: bool = False,
    ) -> None:
        """Queue the room's recent events (the last ``count``, or everything after ``since``) for
        one client, with a gap notice before and a "live" marker after when there was any."""
        if since is not None:
            gap, events = self.history.after(since, room)
        else:
            gap, events = Gap(), self.history.recent(count, room)
        if gap:
            tell(Event(Kind.GAP, text=gap_text(gap, since), missed=gap.missed, room=room, aside=aside))
        cache = self._encoded
        for event in events:
            # The room (rooms shared through Redis number their own events) and the time (after a
            # Redis data loss an id can recur) as well as the id.
            key = (codec, event.room, event.id, event.ts, aside)
            chunk = cache.get(key)
            if chunk is None:
                if len(cache) >= 4 * self.history.capacity:
                    cache.clear()
                shown = event.replayed()
                chunk = cache[key] = codec.encode(replace(shown, aside=True) if aside else shown, False)
            if chunk is not None:
                send(chunk)
        if events or gap:
            tell(Event(Kind.SYSTEM, text="— live —", code=LIVE, room=room, aside=aside))

    def show(self, room: str, count: int, ids: bool = False) -> list[Event]:
        """The /history reply: the room's last ``count`` events (bounded), in notices of at most
        ``HISTORY_PART`` characters; with ``ids``, each line starts with its event's id."""
        events = self.history.recent(min(count, self.history.capacity_of(room)), room)
        if not events:
            return [Event(Kind.SYSTEM, text="No messages yet", room=room)]
        shown = [f"Last {len(events)} events (UTC):"]
        shown += (f"#{e.id} {line}" if ids else line for e in events for line in format_lines(e.replayed()))
        return [Event(Kind.SYSTEM, text="\n".join(part), room=room) for part in _parts(shown, HISTORY_PART)]


def _parts(lines: list[str], budget: int) -> list[list[str]]:
    """Lines in runs of at most ``budget`` characters (a longer line alone in its run)."""
    parts: list[list[str]] = [[]]
    size = 0
    for line in lines:
        if parts[-1] and size + len(line) > budget:
            parts.append([])
            size = 0
        parts[-1].append(line)
        size += len(line) + 1
    return parts


def gap_text(gap: Gap, since: int | None) -> str:
    parts = []
    if gap.evicted:
        parts.append(f"{gap.evicted} earlier events are no longer in history")
    if gap.lost:
        parts.append(f"up to {gap.lost} events after #{since} were lost when the server stopped unexpectedly")
    text = "; ".join(parts)
    return text[0].upper() + text[1:]

"""History shown to a client: the replay on connecting or joining a room, a resume after some id,
and /history.

A replay is shared as live events are: every client of one kind that asks for the same stretch of
a room's history (the usual case: newcomers get the room's last events; reconnecting pages ask
for the same ranges) gets the same packed bytes, a ``Run``, encoded and packed once; each client
keeps only its place in it (see ``app.delivery.fanout``). What a replay weighs, in bytes, is what its
address pays from its replay budget (``Hub.connect``)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from app.bus.history import Gap, History
from app.codecs.lines import LIVE, format_lines
from app.delivery.fanout import Codec, Run
from app.domain.events import REDACTED, Event, Kind

Send = Callable[[Event], None]

HISTORY_PART = 8000
"""Characters of /history in one notice: a long history is shown in several, each well within a
WebSocket message's 64 KiB even when every character takes 4 bytes of UTF-8 (or is escaped)."""

RUNS_KEPT = 256
"""Packed replays kept for the next client that asks for the same: a few per room and kind of
client at once (older ones are dropped first; a room that moved on asks for new ones anyway)."""

ENCODED_KEPT = 16_384
"""Encoded events kept, least recently replayed dropped first: enough for the history of the
rooms newcomers are asking for (20 rooms of a client, each kind of client, aside or not), so a
stream of reconnects encodes each event once, not once per reconnect."""


@dataclass(frozen=True, slots=True)
class Replay:
    """What one client is to be shown of one room: a gap notice if events are missing, the events
    (packed, shared), and a "live" marker after if there was anything."""

    room: str
    since: int | None
    gap: Gap
    run: Run
    aside: bool

    @property
    def size(self) -> int:
        return self.run.size


class Replayer:
    def __init__(self, history: History) -> None:
        self.history = history
        self._encoded: OrderedDict[tuple[Codec, str, int, float, str, bool], bytes | str | None] = OrderedDict()  # type: ignore[type-arg]
        """Replayed events, encoded once per codec (and once more as aside, for a room that is
        not the reader's current one)."""
        self._runs: OrderedDict[tuple[object, ...], Run] = OrderedDict()
        """Runs of replayed events, packed once per codec, least recently asked for first."""

    def wanted(self, room: str, since: int | None, count: int) -> bool:
        """Whether a client asking for the room's history (as ``prepare``) is to be sent any."""
        last = self.history.room(room).last_id
        return last > since if since is not None else count > 0 and last > 0

    def wanted_in_any(self, rooms: list[str], since: int | Mapping[str, int] | None, count: int) -> bool:
        """Whether a client resuming ``rooms`` from ``since`` is to be sent any history at all."""
        return any(self.wanted(room, resume_point(since, room), count) for room in rooms)

    def prepare(
        self,
        codec: Codec,  # type: ignore[type-arg]
        room: str,
        since: int | None,
        count: int,
        aside: bool = False,
    ) -> Replay:
        """The room's recent events (the last ``count``, or everything after ``since``) as one
        client of this codec is to be shown them."""
        if since is not None:
            gap, events = self.history.after(since, room)
        else:
            gap, events = Gap(), self.history.recent(count, room)
        return Replay(room, since, gap, self._run(codec, room, events, aside), aside)

    def send(self, replay: Replay, share: Callable[[Run], None], tell: Send) -> None:
        """Queue a prepared replay for one client: its gap notice, its shared run, its "live" marker."""
        room, aside = replay.room, replay.aside
        if replay.gap:
            text = gap_text(replay.gap, replay.since)
            tell(Event(Kind.GAP, text=text, missed=replay.gap.missed, room=room, aside=aside))
        share(replay.run)
        if replay.run.events or replay.gap:
            tell(Event(Kind.SYSTEM, text="— live —", code=LIVE, room=room, aside=aside))

    def _run(self, codec: Codec, room: str, events: list[Event], aside: bool) -> Run:  # type: ignore[type-arg]
        if not events:
            return Run((), 0)
        # The room (rooms shared through Redis number their own events) and the time (after a
        # Redis data loss an id can recur) as well as the ids; and how many were redacted since
        # (a redaction keeps the event's place, and is never undone).
        first, last = events[0], events[-1]
        redacted = sum(event.code == REDACTED for event in events)
        key = (codec, room, aside, len(events), first.id, first.ts, last.id, last.ts, redacted)
        run = self._runs.get(key)
        if run is not None:
            self._runs.move_to_end(key)
            return run
        chunks = [chunk for chunk in (self._encode(codec, event, aside) for event in events) if chunk is not None]
        run = self._runs[key] = Run(tuple(codec.pack(chunks)) if chunks else (), len(chunks))
        if len(self._runs) > RUNS_KEPT:
            self._runs.popitem(last=False)
        return run

    def _encode(self, codec: Codec, event: Event, aside: bool) -> bytes | str | None:  # type: ignore[type-arg]
        cache = self._encoded
        key = (codec, event.room, event.id, event.ts, event.code, aside)
        if key in cache:
            cache.move_to_end(key)
            return cache[key]
        if len(cache) >= ENCODED_KEPT:
            cache.popitem(last=False)
        shown = event.replayed()
        chunk = cache[key] = codec.encode(replace(shown, aside=True) if aside else shown, False)
        return chunk

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


def resume_point(since: int | Mapping[str, int] | None, room: str) -> int | None:
    """Where a client resumes ``room``: one id for every room, or an id per room (None: the
    room's recent events)."""
    return since.get(room) if isinstance(since, Mapping) else since

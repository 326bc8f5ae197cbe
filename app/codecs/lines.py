"""Events as plain text lines: what telnet/netcat users and ``/ws?mode=text`` users read.

What people write and what the server says cannot be mistaken for one another, by construction:
every line a person wrote starts with their nick in brackets (``[ann] hi``, ``* [ann] waves``,
``[ann → you] psst``), and no line the server writes does (``* ann is now known as bob``: nicks
cannot contain brackets). And none of it can start a line of its own: user text never holds a
line break of any kind, nor an escape or control (``clean_text`` removes them where the text enters;
``shown`` again here, for history stored before that was so, or by another release), so only the
server's own line breaks end a line.
"""

from __future__ import annotations

import time

from app.domain.events import REDACTED, Event, Kind
from app.domain.text import shown, shown_lines

LIVE = "live"
"""The code of the system notice that ends a replay: what follows happens now."""

NOT_ECHOED = frozenset({Kind.MESSAGE, Kind.JOIN, Kind.ENTER})
"""Kinds a line-mode sender does not get back: their terminal already shows what they typed."""


def format_lines(event: Event, own: bool = False) -> list[str]:
    """The lines one event shows as; ``own`` is true when the reader caused it (private messages).
    Replayed history is prefixed with its time (UTC), since it did not happen just now; an event
    of a room that is not the reader's current one, with the room's name."""
    lines = _lines(event, own)
    if event.history:
        stamp = time.strftime("%H:%M", time.gmtime(event.ts))
        lines = [f"{stamp} {line}" for line in lines]
    if event.aside and event.room:
        lines = [f"[{event.room}] {line}" for line in lines]
    return lines


def _lines(event: Event, own: bool) -> list[str]:
    kind = event.kind
    if event.code == REDACTED:
        return [f"[{event.nick}] (message removed)"]
    if kind is Kind.MESSAGE:
        return [f"[{event.nick}] {shown(event.text)}"]
    if kind is Kind.ACTION:
        return [f"* [{event.nick}] {shown(event.text)}"]
    if kind is Kind.JOIN:
        return [f"* {event.nick} joined ({event.gateway.value if event.gateway else 'unknown'})"]
    if kind is Kind.LEAVE:
        return [f"* {event.nick} left{_because(event.text)}"]
    if kind is Kind.NICK:
        return [f"* {event.old} is now known as {event.nick}"]
    if kind is Kind.ENTER:
        return [f"* {event.nick} joined {event.room}"]
    if kind is Kind.PART:
        return [f"* {event.nick} left {event.room}{_because(event.text)}"]
    if kind is Kind.TOPIC:
        return [f"* {event.nick} set the topic of {event.room}: {shown(event.text)}"]
    if kind is Kind.ROOM:
        return _room_lines(event)
    if kind is Kind.ROOMS:
        return _rooms_lines(event)
    if kind is Kind.PRIVATE:
        if own:
            return [f"[you → {event.to}] {shown(event.text)}"]
        return [f"[{event.nick} → you] {shown(event.text)}"]
    if kind is Kind.WELCOME:
        others = [u.nick for u in event.users if u.nick != event.nick]
        more = event.total - len(event.users)
        here = ", ".join(others) + (f" and {more} more" if more > 0 else "") if others else "nobody else yet"
        lines = [event.text, f"* You are {event.nick} — change it with /nick NAME"]
        if event.room:
            rooms = ", ".join(info.name for info in event.rooms if info.name != event.room)
            where = f"* You are in {event.room}" + (f" (and {rooms})" if rooms else "")
            lines.append(f"{where} — /rooms lists the rooms, /join #ROOM joins one")
        return [*lines, f"* Here now: {here}"]
    if kind is Kind.USERS:
        listing = ", ".join(f"{u.nick} ({u.gateway.value}{', op' if u.op else ''})" for u in event.users)
        more = event.total - len(event.users)
        return [f"* {max(event.total, len(event.users))} here: {listing}" + (f" and {more} more" if more > 0 else "")]
    if kind is Kind.GAP:
        return [f"* {event.text}"]
    if kind is Kind.ERROR:
        return [f"! {line}" for line in _server_lines(event.text)]
    if event.code == LIVE:  # a text reader saw history stamped in UTC; a JSON client shows its own times
        return [f"* {event.text} (times above are UTC)"]
    return [f"* {line}" if i == 0 else f"  {line}" for i, line in enumerate(_server_lines(event.text))]


def _server_lines(text: str) -> list[str]:
    """A notice's lines: split at the server's own newlines only."""
    return shown_lines(text).split("\n")


def _names(event: Event) -> str:
    """Who is listed, and how many more there are."""
    listing = ", ".join(u.nick for u in event.users)
    more = event.total - len(event.users)
    return listing + (f" and {more} more" if more > 0 else "")


def _room_lines(event: Event) -> list[str]:
    count = max(event.total, len(event.users))
    lines = [f"* You are now in {event.room} — {count} here: {_names(event)}"]
    lines.append(f"* Topic: {shown(event.text)}" if event.text else "* No topic yet — /topic TEXT sets one")
    return lines


def _rooms_lines(event: Event) -> list[str]:
    if not event.rooms:
        return ["* No rooms yet — /join #ROOM makes one"]
    more = event.total - len(event.rooms)
    lines = [f"* {event.total} rooms" + (f", the {len(event.rooms)} biggest:" if more > 0 else ":")]
    for info in event.rooms:
        lines.append(f"  {info.name} ({info.members})" + (f" — {shown(info.topic)}" if info.topic else ""))
    return lines


def _because(reason: str) -> str:
    """A leave's or a part's reason, in brackets after the notice (nothing without one)."""
    return f" ({shown(reason)})" if reason else ""

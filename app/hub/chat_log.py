"""The chat log: each chat event as one line of the server's log (logger ``app.chat``), so an
operator can follow the rooms with ``journalctl``; joins and leaves are counted past a few a
second (``PresenceLog``), since a reconnect storm would otherwise cost a line per connection."""

from __future__ import annotations

import logging

from app.domain.events import Event, Kind

CHAT_LOG = logging.getLogger("app.chat")


def log_event(event: Event) -> None:
    """One chat event's line in the server's log (at INFO: the default shows what was said)."""
    if not CHAT_LOG.isEnabledFor(logging.INFO):
        return
    kind, room = event.kind, event.room
    if kind is Kind.MESSAGE:
        CHAT_LOG.info("#%d %s [%s] %s", event.id, room, event.nick, event.text)
    elif kind is Kind.ACTION:
        CHAT_LOG.info("#%d %s * %s %s", event.id, room, event.nick, event.text)
    elif kind is Kind.JOIN:
        CHAT_LOG.info("#%d %s join %s (%s)", event.id, room, event.nick, event.gateway.value if event.gateway else "?")
    elif kind is Kind.LEAVE:
        CHAT_LOG.info("#%d %s leave %s %s", event.id, room, event.nick, event.text)
    elif kind is Kind.PRESENCE:
        CHAT_LOG.info("joins and leaves not logged one by one: %s", event.text)
    elif kind is Kind.NICK:
        CHAT_LOG.info("#%d %s nick %s -> %s", event.id, room, event.old, event.nick)
    elif kind in (Kind.ENTER, Kind.PART, Kind.TOPIC):
        CHAT_LOG.info("#%d %s %s %s %s", event.id, room, kind.value, event.nick, event.text)

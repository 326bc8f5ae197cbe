"""Where the shared server lives in Redis: one hash tag for the server-wide state, one per room.

A Redis Cluster places a key by its hash tag (the part in braces), and a script may only touch
keys of one slot. So everything one atomic step needs shares a tag: a room's counter, streams,
members and dedup keys share the room's (``chat:{main:#dev}:stream``), which spreads rooms over
the shards; the nick registry, heartbeats, inboxes, the room registry and moderation share the
namespace's (``chat:{main}:presence``). On a single Redis the tags change nothing.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RoomKeys:
    """One room's keys, all in the room's slot."""

    prefix: str

    @property
    def counter(self) -> str:
        """The room's last id: each room numbers its own events."""
        return self.prefix + "counter"

    @property
    def stream(self) -> str:
        """Every public event of the room, trimmed to the room's history capacity."""
        return self.prefix + "stream"

    @property
    def said(self) -> str:
        """Messages, actions and topics only: however many joins and leaves fill the stream, a
        process starting later still finds the last messages here."""
        return self.prefix + "said"

    @property
    def members(self) -> str:
        """Who is in the room (nick key -> member record), for every process."""
        return self.prefix + "members"

    def dedup(self, uid: str) -> str:
        """The id an event was published under, kept a while so a retried publish is not doubled."""
        return f"{self.prefix}dedup:{uid}"


class Keys:
    """The key layout of one namespace (``CHAT_ROOM``): several chat servers may share a Redis."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.prefix = f"chat:{{{namespace}}}:"
        self.presence = self.prefix + "presence"
        """Nick key -> member record, for the whole server: what makes nicks unique."""
        self.rooms = self.prefix + "rooms"
        """Room name -> time of its last arrival (a sorted set): the rooms a starting process loads."""
        self.bell = self.prefix + "bell"
        """The channel on which a room's script names the room it just added to: the doorbell
        that tells every process which stream to read."""
        self.moderation = self.prefix + "mod:"

    def room(self, name: str) -> RoomKeys:
        return RoomKeys(f"chat:{{{self.namespace}:{name}}}:")

    def heartbeat(self, process: str) -> str:
        return f"{self.prefix}proc:{process}"

    def inbox(self, process: str) -> str:
        """A process's private events, sent by other processes."""
        return f"{self.prefix}inbox:{process}"

    def dedup(self, uid: str) -> str:
        return f"{self.prefix}dedup:{uid}"

"""The audit log's records: who did what to whom, where, and why; and who may read which.

A record is data, not a line of text: the room it happened in decides who reads it (a room's
operators read their room's records, server operators read every record), and the parts only a
server operator may see (an address, the text of a removed message) are fields of their own, left
out of what a room operator is shown rather than searched for in a sentence. User text in a record
is cleaned when the record is made and again when it is shown, and a record is stored as JSON, so
no reason can forge a line of the log.
"""

from __future__ import annotations

import calendar
import re
import time
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any

from app.domain.moderation import Action, announcement
from app.domain.stored import Stored
from app.domain.text import clean_text, shown

SERVER = ""
"""The room of a server-wide record (an operator's /oper, a ban, a failed password): only server
operators read these."""

SERVER_WIDE = frozenset({Action.OPER, Action.BAN, Action.UNBAN})
"""Actions that concern the whole server, whichever room they were typed in."""


class Noted(StrEnum):
    """What the log keeps besides moderation actions (an ``AuditRecord``'s ``action``)."""

    FOUNDED = "founded"  # someone made a room, and is its operator
    REGISTERED = "registered"  # someone protected their nick
    REPROVED = "changed how it is proved"  # a registered nick's owner set a new password or key
    TOKENS_REVOKED = "revoked saved sign-ins"  # an owner revoked tokens (detail: how many)
    WRONG_PASSWORD = "tried a wrong password for"  # a failed /identify (target: the nick; never the guess)
    WRONG_OPER_PASSWORD = "tried a wrong operator password"  # a failed /oper (never the guess)


_OLD_STAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ")
"""How a line of the audit log began before the log was records (its time, then the text)."""


@dataclass(frozen=True, slots=True)
class AuditRecord(Stored):
    """One entry of the audit log (made with ``AuditRecord.of``, which cleans what it is given)."""

    time: float
    room: str
    """The room it happened in (canonical), or ``SERVER`` for a server-wide record."""
    actor: str
    """The nick that acted ("" for the server itself)."""
    action: str
    """An ``Action``'s value, or a ``Noted`` one."""
    target: str = ""
    detail: str = ""
    """The reason, duration or other words that go with it."""
    address: str = ""
    """An address the record names (a ban's, a guesser's): for server operators' eyes only."""
    removed: str = ""
    """The text of a message taken out of the history: for server operators' eyes only."""

    @classmethod
    def of(cls, when: float, room: str, actor: str, action: str, target: str = "", **private: str) -> AuditRecord:
        """A record with every text field cleaned the way messages are (``private``: ``detail``,
        ``address``, ``removed``)."""
        texts = {name: clean_text(value) for name, value in private.items()}
        room = SERVER if action in SERVER_WIDE else room
        return cls(when, room, clean_text(actor), str(action), clean_text(target), **texts)

    @classmethod
    def parse(cls, stored: str) -> AuditRecord:
        """A stored entry: a record, or a line written before the log was records (server-wide,
        since nobody can tell which room it was about or whether it names an address)."""
        try:
            return cls.read(stored)
        except (ValueError, TypeError, KeyError, AttributeError):  # not JSON, or JSON of something else
            return cls.legacy(stored)

    @classmethod
    def legacy(cls, line: str, when: float | None = None) -> AuditRecord:
        """A line of the old text log as a record: its words kept whole as the detail."""
        if _OLD_STAMP.match(line):
            stamp, line = line[:19], line[20:]
            when = when if when is not None else _epoch(stamp)
        return cls(when or 0.0, SERVER, "", "", detail=line)

    @classmethod
    def decoded(cls, data: dict[str, Any]) -> dict[str, Any]:
        known = {field.name for field in fields(cls)}
        return {key: value for key, value in data.items() if key in known}  # a newer release may add fields

    def line(self, full: bool) -> str:
        """The record as ``/modlog`` shows it, from its time (UTC)."""
        return f"{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(self.time))} {self.text(full)}"

    def text(self, full: bool) -> str:
        """Where and what happened; ``full``: with the address and removed text only server
        operators see. Cleaned again here: the record may predate the cleaning."""
        extra = [f"from {self.address}"] if full and self.address else []
        if full and self.removed:
            extra.append(f"it said: {self.removed}")
        where = f"{self.room} " if self.room else ""
        return shown(" ".join([where + self.sentence(), *(f"({part})" for part in extra)]))

    def sentence(self) -> str:
        """What happened, in the words the room was told it ("ann was kicked by op: flooding")."""
        try:
            action = Action(self.action)
        except ValueError:
            said = " ".join(part for part in (self.actor, self.action, self.target) if part)
            return said + (f" ({self.detail})" if self.detail and said else self.detail)
        return announcement(action, self.target, self.actor, self.detail)


def _epoch(stamp: str) -> float:
    """Seconds since the epoch of a UTC time as the old log wrote it."""
    return float(calendar.timegm(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")))

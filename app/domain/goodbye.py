"""Why a connection ends, and what its client should do next: one table for every door.

A goodbye decides the WebSocket close code, the last line a terminal user reads, and whether
(and how soon) a client should come back. Gateways, the hub and the page all act on the
member, never on the wording, so a message can be reworded without changing the protocol.

Close codes: the standard ones (RFC 6455 §7.4.1, IANA registry) where one fits, and private
codes 4000–4999 where a client must act differently and no standard code says so.
"""

from __future__ import annotations

from enum import Enum
from typing import NamedTuple

from app.domain.text import clean_text


class Retry(Enum):
    """When a client should come back after a goodbye."""

    NOW = "now"  # nothing is wrong with the client or the server: reconnect at once and resume
    SOON = "soon"  # the server is restarting: reconnect in a few seconds
    LATER = "later"  # the server is busy or the client overdid it: wait a while
    NEVER = "never"  # the user chose to leave, or the server will not take this client

    @property
    def delay(self) -> float | None:
        """Seconds to wait before reconnecting (None: do not reconnect)."""
        return _RETRY_DELAY[self]


_RETRY_DELAY = {Retry.NOW: 0.0, Retry.SOON: 2.0, Retry.LATER: 60.0, Retry.NEVER: None}


class Goodbye(Enum):
    """A reason to end a connection: its close code, the short reason (the WebSocket close reason,
    and the "left (…)" others see), the last line its user reads, and when to come back."""

    code: int
    reason: str
    text: str
    retry: Retry

    QUIT = (1000, "quit", "Goodbye!", Retry.NEVER)
    RESTARTING = (1012, "server restarting", "Disconnected: server restarting — reconnect in a moment", Retry.SOON)
    FULL = (1013, "server full", "Connection refused: server full, try again later", Retry.LATER)
    ADDRESS_LIMIT = (
        1013,
        "too many connections from your address",
        "Connection refused: too many connections from your address",
        Retry.LATER,
    )
    REPLAY_LIMIT = (
        1013,
        "too much history asked for",
        "Connection refused: too much history asked for from your address — try again in a minute, nothing is lost",
        Retry.LATER,
    )
    REFUSED = (1008, "refused", "Connection refused", Retry.NEVER)
    NOT_RESPONDING = (1011, "keepalive ping timeout", "Disconnected: no answer to keepalive pings", Retry.NOW)
    TOO_SLOW = (
        4000,
        "too slow",
        "Disconnected: your connection fell behind the room — reconnect to catch up, nothing is lost",
        Retry.NOW,
    )
    FLOODING = (
        4001,
        "flooding",
        "Disconnected: flooding — too many lines too fast, come back in a minute",
        Retry.LATER,
    )
    BAD_INPUT = (4002, "bad input", "Disconnected: too much input the server could not accept", Retry.LATER)
    LOST_CONTACT = (4003, "lost contact", "Disconnected: lost contact with the room, please reconnect", Retry.NOW)
    KICKED = (4010, "kicked", "Disconnected: you were kicked", Retry.LATER)
    BANNED = (4011, "banned", "Connection refused: you are banned", Retry.NEVER)

    def __new__(cls, code: int, reason: str, text: str, retry: Retry) -> Goodbye:
        member = object.__new__(cls)
        member._value_ = reason
        member.code = code
        member.reason = reason
        member.text = text
        member.retry = retry
        return member

    def line(self, detail: str = "") -> str:
        """What the user reads last, with a detail (a limit, a reason) if there is one."""
        detail = clean_text(detail)  # a kick's or a ban's reason is a person's words
        return f"{self.text} ({detail})" if detail else self.text

    def close_reason(self, detail: str = "") -> str:
        """The WebSocket close reason: at most 123 bytes of UTF-8 (RFC 6455 §5.5)."""
        detail = clean_text(detail)
        reason = f"{self.reason}: {detail}" if detail else self.reason
        return reason.encode()[:123].decode(errors="ignore")


class Refusal(NamedTuple):
    """Why a new connection is not admitted, with the detail its user needs (a limit)."""

    goodbye: Goodbye
    detail: str = ""

    def line(self) -> str:
        return self.goodbye.line(self.detail)

    def close_reason(self) -> str:
        return self.goodbye.close_reason(self.detail)

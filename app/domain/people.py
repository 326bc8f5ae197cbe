"""People as moderation sees them: an identity, never a spelling of a nick.

A founder, an ``/op`` grant, an invitation, a mute or a room ban names a ``Person``: the
registration they proved (which a lapse ends: a nick registered again is someone else), or for a
guest the connection (session) they used and the address they came from. Powers follow only the
registration or the session; restrictions also follow the address, and a guest's also the nick it
had, so neither ``/nick`` nor reconnecting sheds them.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.domain.nicks import nick_key
from app.domain.stored import Stored


@dataclass(frozen=True, slots=True)
class Person(Stored):
    nick: str = ""
    """The nick they had when named: for lists and notices (and a guest's restrictions)."""
    registration: str = ""
    """The key of the registered nick they proved ("": a guest)."""
    since: float = 0.0
    """When that registration was made: a lapsed nick registered again by someone else is not them."""
    session: str = ""
    """A guest's connection (``process:id``), unique across restarts and processes ("": none)."""
    address: str = ""
    """The address budget they came from ("": exempt, such as loopback or a trusted proxy)."""

    @property
    def key(self) -> str:
        """What identifies them in a record's key: the registration, else the session."""
        return f"r:{self.registration}" if self.registration else f"s:{self.session}"

    def same(self, other: Person) -> bool:
        """Whether ``other`` is this person, as powers see it: the same registration, or the same
        session. An empty ``Person()`` is no one (the owner of a room whose guest founder left)."""
        if self.registration:
            return self.registration == other.registration and self.since == other.since
        return bool(self.session) and self.session == other.session

    def admits(self, other: Person) -> bool:
        """An invitation to this person lets ``other`` in: them, or for a guest their address too."""
        return self.same(other) or (not self.registration and bool(self.address) and self.address == other.address)

    def covers(self, other: Person) -> bool:
        """A restriction on this person holds ``other``: them, their address, or (a guest's) their nick."""
        if self.same(other) or (self.address and self.address == other.address):
            return True
        return not self.registration and bool(self.nick) and nick_key(self.nick) == nick_key(other.nick)

    def registered(self, registration: str, since: float) -> Person:
        """The same person once they have registered (a guest founder becomes the room's founder)."""
        return Person(self.nick, registration, since, self.session, self.address)

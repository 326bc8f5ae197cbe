"""What the hub's parts rely on of each other, as protocols, so that imports only go downward.

A door implements ``Client`` (one connection); the hub (``app.hub.core``'s ``Hub``) implements
``HubServices``, what the moderation desk calls on it; the desk (``app.hub.desk``'s ``Moderation``)
implements ``Desk``, what its parts (protected nicks, standing) call on it. None of them imports
the module above it: each is given the object and sees it through the protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from app.bus.base import Bus
from app.bus.moderation import ModerationStore
from app.delivery.fanout import Codec, Outbox
from app.domain.audit import SERVER
from app.domain.events import Event, Gateway
from app.domain.goodbye import Goodbye, Refusal
from app.domain.guesses import Door
from app.domain.room import Room
from app.domain.rooms import RoomName
from app.hub.verifier import Checked


class Client(Protocol):
    """One connection, as the gateways implement it."""

    id: int
    gateway: Gateway
    address: str
    budget: str | None
    """The address its per-address limits count (see ``app.domain.addresses``); None: exempt."""
    key_fingerprint: str | None
    """The SHA256 fingerprint of the SSH key its user logged in with; None on other doors, or without a key."""
    codec: Codec  # type: ignore[type-arg]
    outbox: Outbox  # type: ignore[type-arg]

    def send(self, chunk: bytes | str) -> None:
        """Queue an encoded chunk in the client's outbox."""

    def close(self, goodbye: Goodbye, notice: bytes | str | None, detail: str = "") -> None:
        """Flush what is queued, send the notice if any, and close the connection (the WebSocket
        close reason carries ``detail``: a kick's reason, a ban's reason and expiry)."""

    def hide_input(self, hidden: bool) -> None:
        """Ask the client's terminal not to show what is typed (a password), or to show it again."""

    def pause_input(self) -> None:
        """Leave what it sends unread until ``resume_input``."""

    def resume_input(self) -> None: ...


class HubServices(Protocol):
    """The hub as the moderation desk uses it: the room and bus it applies outcomes to, the
    connections here, and how it talks to and drops them."""

    room: Room
    bus: Bus
    clients: dict[int, Client]

    def budget(self, address: str, forwarded: bool = False) -> str | None: ...

    def interpret(self, client: Client, line: str, room: RoomName | None = None) -> None: ...

    def tell(self, client: Client, event: Event) -> None: ...

    def error(self, client: Client, text: str, code: str) -> None: ...

    def drop(self, client: Client, goodbye: Goodbye, reason: str = "") -> None: ...


class Desk(Protocol):
    """The moderation desk as its parts use it: the hub, the store, the clock, background work, the
    audit log, bans and password guesses."""

    hub: HubServices
    store: ModerationStore
    clock: Callable[[], float]

    def spawn(self, job: Coroutine[Any, Any, None]) -> None: ...

    def audit(self, action: str, actor: str, target: str = "", *, room: str = SERVER, **private: str) -> None: ...

    def refusal(self, address: str | None, nick: str | None = None) -> Refusal | None: ...

    def refused_guess(
        self, client: Client, door: Door, target: str, checked: Checked, wrong: str = "Wrong password"
    ) -> bool: ...

    def joined(self, client: Client) -> None: ...

    def founded(self, nick: str, room: RoomName) -> None: ...

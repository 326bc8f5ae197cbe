"""Protected nicks: /register, /identify, the page's token, and keeping a registered nick for its owner.

Part of the moderation desk (``app.moderation``), which routes the commands here: a registration's
rules are the domain's (``app.domain.identity``), its records the store's (``Table.NICKS``), and
the hashing is ``app.passwords``' (off the event loop).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from app import passwords
from app.bus.moderation import ModerationStore, Table
from app.domain.audit import Noted
from app.domain.events import Event, Kind
from app.domain.identity import Registration
from app.domain.moderation import BanKind
from app.domain.nicks import NickError, NickIndex, nick_key, normalize_nick
from app.passwords import Verifier

if TYPE_CHECKING:
    from app.hub import Client, Hub
    from app.moderation import Moderation

log = logging.getLogger("app.moderation")

MIN_PASSWORD = 8


class Identities:
    """Who owns which registered nick, and which connections have proved theirs."""

    def __init__(self, desk: Moderation, store: ModerationStore, verifier: Verifier, expiry_days: float) -> None:
        self.desk = desk
        self.hub: Hub = desk.hub
        self.store = store
        self.verifier = verifier
        self.expiry_days = expiry_days
        self.nicks: dict[str, Registration] = {}
        """Registrations by nick key (read from the store)."""
        self.index: NickIndex[Registration] = NickIndex()
        """The same, found by either identity of a nick (its key, or its look-alike skeleton)."""
        self.identified: dict[int, str] = {}
        """Connection id to the key of the registered nick it proved."""
        self.asked: dict[int, str] = {}
        """The protected nick a connection last asked for: what a bare ``/identify PASSWORD`` proves."""

    def spawn(self, job: Coroutine[Any, Any, None]) -> None:
        self.desk.spawn(job)

    def left(self, client: Client) -> None:
        self.identified.pop(client.id, None)
        self.asked.pop(client.id, None)

    def protects(self, nick: str, member_id: int) -> str | None:
        """Why ``member_id`` may not use ``nick`` (None: it may): it is registered to someone else
        (or looks like a nick that is: ``aIice`` is as much ``alice``'s as ``ALICE``), or banned."""
        registration = self.index.get(nick)
        if registration is not None and registration.lapsed(self.desk.clock(), self.expiry_days):
            self.forget(registration)
            self.spawn(self.store.delete(Table.NICKS, registration.mask))
            log.info("registration of %s lapsed (unused too long)", registration.nick)
            registration = None
        if registration is not None and self.identified.get(member_id) != registration.mask:
            self.asked[member_id] = registration.mask
            return f"'{registration.nick}' is a registered nick: /identify PASSWORD if it is yours"
        key = nick_key(nick)
        ban = next((b for b in self.desk.bans.values() if b.kind is BanKind.NICK and b.mask == key), None)
        if ban is not None and ban.active(self.desk.clock()):
            return f"'{ban.label}' is banned"
        return None

    def lacks_password(self, client: Client, name: str, rest: str) -> bool:
        """``/register`` or ``/identify [NICK]`` typed without the password (asked for on its own
        line), unless the client's SSH key is what registers it."""
        if name == "register":
            return not rest and client.key_fingerprint is None
        return not rest or (" " not in rest and nick_key(rest) in self.nicks)

    # -- commands ----------------------------------------------------------------------------

    async def register(self, client: Client, password: str) -> None:
        """Protect the client's nick with a password, or (over SSH, with none given) with its key; the
        owner of a registration adds the other the same way."""
        if client.id not in self.hub.room:
            return
        nick = self.hub.room.nick_of(client.id)
        key = nick_key(nick)
        held = self.nicks.get(key)
        if held is not None and self.identified.get(client.id) != key:
            self.hub.error(client, f"{nick} is already registered: /identify PASSWORD if it is yours", "refused")
            return
        fingerprint = client.key_fingerprint if not password else None
        if fingerprint is None and len(password) < MIN_PASSWORD:
            usage = f"Usage: /register PASSWORD ({MIN_PASSWORD} characters at least): protects your nick"
            self.hub.error(client, usage, "usage")
            return
        hashed = None
        if password:
            hashed = await asyncio.get_running_loop().run_in_executor(None, passwords.hash_password, password)
        now = self.desk.clock()
        token = passwords.new_token()
        keys = held.fingerprints if held else ()
        registration = Registration(
            nick,
            key,
            hashed or (held.password if held else None),
            (*keys, fingerprint) if fingerprint and fingerprint not in keys else keys,
            passwords.token_digest(token),
            registered=held.registered if held else now,
            last_used=now,
        )
        await self._keep(registration)
        self.identified[client.id] = key
        self.desk.audit(Noted.REGISTERED, nick)
        lapses = f" It lapses if unused for {self.expiry_days:g} days." if self.expiry_days else ""
        proof = f" Your key {fingerprint} proves it." if fingerprint else " Your password proves it."
        self._tell_owner(
            client, registration, token, f"{nick} is registered to you: nobody else can use it.{proof}{lapses}"
        )
        if fingerprint:
            self._tell_token(client, registration, token)

    async def identify(self, client: Client, rest: str) -> None:
        # "/identify ann pass word" names the nick when its first word is a registered one; else the
        # whole line is the password (it may hold spaces) of the nick last asked for, or one's own.
        first, _, second = rest.partition(" ")
        named = second.strip() and nick_key(first) in self.nicks
        key = nick_key(first) if named else self.asked.get(client.id) or self._own_key(client)
        password = second.strip() if named else rest
        registration = self.nicks.get(key)
        if registration is None:
            usage = "No registered nick to prove: /identify NICK PASSWORD, or /register PASSWORD"
            self.hub.error(client, usage, "usage")
            return
        # A guesser is limited by its address, and a nick by itself, whoever guesses it.
        keys = (f"identify {client.budget}", f"identify {key}")
        refused = await self.verifier.verify(keys, lambda: _proves(registration, password))
        if refused is not None:
            self.hub.error(client, *refused)
            return
        await self._proven(client, registration)

    def prove_on_arrival(self, client: Client, nick: str | None, token: str | None) -> None:
        """A client asking for a registered nick proves it before it joins: with the token the page
        kept (``?nick=ann&token=...``), or over SSH with a key the nick is registered to."""
        if not nick:
            return
        try:
            key = nick_key(normalize_nick(nick))
        except NickError:
            return
        registration = self.nicks.get(key)
        if registration is None:
            return
        by_token = bool(token and registration.token and passwords.check_token(token, registration.token))
        if by_token or (client.key_fingerprint is not None and client.key_fingerprint in registration.fingerprints):
            self.identified[client.id] = key
            self.keep(registration.used(self.desk.clock()))
            self.spawn(self.store.put(Table.NICKS, key, self.nicks[key].record()))

    # -- proving -----------------------------------------------------------------------------

    async def _proven(self, client: Client, registration: Registration) -> None:
        """The client owns this registered nick: mark it, hand it a fresh token, and give it the nick."""
        token = passwords.new_token()
        registration = replace(registration.used(self.desk.clock()), token=passwords.token_digest(token))
        await self._keep(registration)
        self.identified[client.id] = registration.mask
        self.asked.pop(client.id, None)
        self._tell_owner(client, registration, token, f"You are identified as {registration.nick}")
        if client.id in self.hub.room and nick_key(self.hub.room.nick_of(client.id)) != registration.mask:
            self.hub.interpret(client, f"/nick {registration.nick}")
        self.desk.joined(client)

    async def _keep(self, registration: Registration) -> None:
        await self.store.put(Table.NICKS, registration.mask, registration.record())
        self.keep(registration)

    def keep(self, registration: Registration) -> None:
        """Hold a registration (new, changed, or read from the store)."""
        held = self.nicks.get(registration.mask)
        if held is not None:
            self.index.remove(held.nick, held)
        self.nicks[registration.mask] = registration
        self.index.add(registration.nick, registration)

    def forget(self, registration: Registration) -> None:
        self.nicks.pop(registration.mask, None)
        self.index.remove(registration.nick, registration)

    def replace_all(self, registrations: dict[str, Registration]) -> None:
        """Hold exactly these (the store read again)."""
        self.nicks, self.index = {}, NickIndex()
        for registration in registrations.values():
            self.keep(registration)

    async def token(self, client: Client, rest: str) -> None:
        """``/token``: a fresh token for the nick one has proved, to identify with from another
        door (``/identify NICK TOKEN``, or the page's ``?token=``); the one before stops working."""
        key = self.identified.get(client.id)
        registration = self.nicks.get(key) if key is not None else None
        if registration is None:
            self.hub.error(client, "No registered nick proved: /register or /identify first", "usage")
            return
        token = passwords.new_token()
        registration = replace(registration, token=passwords.token_digest(token))
        await self._keep(registration)
        self._tell_token(client, registration, token)

    def _tell_token(self, client: Client, registration: Registration, token: str) -> None:
        text = f"Your token for {registration.nick}: {token} — /identify {registration.nick} TOKEN proves it elsewhere"
        self._tell_owner(client, registration, token, text)

    def _tell_owner(self, client: Client, registration: Registration, token: str, text: str) -> None:
        """The owner is told, with the token the page keeps to prove the nick next time."""
        self.hub.tell(client, Event(Kind.IDENTIFIED, nick=registration.nick, text=text, to=token))

    def _own_key(self, client: Client) -> str:
        return nick_key(self.hub.room.nick_of(client.id)) if client.id in self.hub.room else ""


def _proves(registration: Registration, secret: str) -> bool:
    """The password, or the current token (a key-only registration has only the token)."""
    if registration.token and passwords.check_token(secret, registration.token):
        return True
    return registration.password is not None and passwords.check_password(secret, registration.password)

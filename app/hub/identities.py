"""Protected nicks: /register, /identify, /token, and keeping a registered nick for its owner.

Part of the moderation desk (``app.hub.desk``), which routes the commands here: a registration's
rules are the domain's (``app.domain.identity``), its records the store's (``Table.NICKS``), and
the hashing is ``app.passwords``' (off the event loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine
from dataclasses import replace
from typing import Any

from app import passwords
from app.bus.moderation import ModerationStore, Table
from app.domain.audit import Noted
from app.domain.events import Event, Gateway, Kind
from app.domain.goodbye import Refusal
from app.domain.guesses import Door, GuessPolicy, limits
from app.domain.identity import MAX_TOKENS, DeviceToken, Registration
from app.domain.nicks import NickError, NickIndex, nick_key, normalize_nick
from app.hub.contract import Client, Desk, HubServices
from app.hub.verifier import Verifier

log = logging.getLogger("app.moderation")

MIN_PASSWORD = 8


class Identities:
    """Who owns which registered nick, and which connections have proved theirs."""

    def __init__(
        self, desk: Desk, store: ModerationStore, verifier: Verifier, expiry_days: float, guessing: GuessPolicy
    ) -> None:
        self.desk = desk
        self.hub: HubServices = desk.hub
        self.store = store
        self.verifier = verifier
        self.expiry_days = expiry_days
        self.guessing = guessing
        self.nicks: dict[str, Registration] = {}
        """Registrations by nick key (read from the store)."""
        self.index: NickIndex[Registration] = NickIndex()
        """The same, found by either identity of a nick (its key, or its look-alike skeleton)."""
        self.identified: dict[int, str] = {}
        """Connection id to the key of the registered nick it proved."""
        self.asked: dict[int, str] = {}
        """The protected nick a connection last asked for: what a bare ``/identify PASSWORD`` proves."""
        self.stale: dict[int, str] = {}
        """Connection id to the nick key whose saved token it came with was not (or no longer) valid."""

    def spawn(self, job: Coroutine[Any, Any, None]) -> None:
        self.desk.spawn(job)

    def left(self, client: Client) -> None:
        for state in (self.identified, self.asked, self.stale):
            state.pop(client.id, None)

    def protects(self, nick: str, member_id: int) -> str | Refusal | None:
        """Why ``member_id`` may not use ``nick`` (None: it may): it is registered to someone else
        (or looks like a nick that is: ``aIice`` is as much ``alice``'s as ``ALICE``), or banned
        (a refusal: whoever asks for a banned nick is turned away, at whatever door)."""
        registration = self.index.get(nick)
        if registration is not None and registration.lapsed(self.desk.clock(), self.expiry_days):
            self.forget(registration)
            self.spawn(self._write(registration, None))
            log.info("registration of %s lapsed (unused too long)", registration.nick)
            registration = None
        if registration is not None and self.identified.get(member_id) != registration.mask:
            self.asked[member_id] = registration.mask
            return _how_to_prove(registration, self.stale.get(member_id) == registration.mask)
        return self.desk.refusal(None, nick)

    def lacks_password(self, client: Client, name: str, rest: str) -> bool:
        """``/register`` or ``/identify [NICK]`` typed without the password (asked for on its own
        line), unless the client's SSH key is what registers it."""
        if name == "register":
            return not rest and client.key_fingerprint is None
        return not rest or (" " not in rest and nick_key(rest) in self.nicks)

    # -- commands ----------------------------------------------------------------------------

    async def register(self, client: Client, password: str) -> None:
        """Protect the client's nick with a password, or (over SSH, with none given) with its key; the
        owner of a registration adds the other the same way, and changes the password so (which
        revokes every saved sign-in: whoever held one must prove the nick again)."""
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
        held = self.nicks.get(key)  # as it is now, after the hashing
        if held is not None and hashed and held.password:  # a new password: every token any process made goes
            held = await self._fresh(held)
        now = self.desk.clock()
        keys = held.fingerprints if held else ()
        registration = Registration(
            nick,
            key,
            hashed or (held.password if held else None),
            (*keys, fingerprint) if fingerprint and fingerprint not in keys else keys,
            held.tokens if held and not (hashed and held.password) else (),
            registered=held.registered if held else now,
            proved_from=held.proved_from if held else (),
        ).used(now, client.budget, self.guessing.remembered_since(now))
        revoked = len(held.tokens) if held and not registration.tokens else 0
        token, registration = self._device_token(client, registration, fingerprint is not None)
        await self._keep(registration)
        self.identified[client.id] = key
        self.desk.audit(Noted.REGISTERED if held is None else Noted.REPROVED, nick)
        lapses = f" It lapses if unused for {self.expiry_days:g} days." if self.expiry_days else ""
        proof = f" Your key {fingerprint} proves it." if fingerprint else " Your password proves it."
        signins = f" Saved sign-ins revoked: {revoked}." if revoked else ""
        self._tell_owner(
            client, registration, token, f"{nick} is registered to you: nobody else can use it.{proof}{lapses}{signins}"
        )
        if fingerprint and token:
            self._tell_token(client, registration, token)

    async def identify(self, client: Client, rest: str) -> None:
        # "/identify ann pass word" names the nick when its first word is a registered one; else the
        # whole line is the password (it may hold spaces) of the nick last asked for, or one's own.
        first, _, second = rest.partition(" ")
        named = second.strip() and nick_key(first) in self.nicks
        key = nick_key(first) if named else self.asked.get(client.id) or self._own_key(client)
        secret = second.strip() if named else rest
        registration = self.nicks.get(key)
        if registration is None:
            usage = "No registered nick to prove: /identify NICK PASSWORD, or /register PASSWORD"
            self.hub.error(client, usage, "usage")
            return
        device = self._device(registration, secret)  # 192 random bits: a token is never guessed, so never counted
        if device is not None:
            await self._proven(client, registration.token_used(device, self.desk.clock()), secret)
            return
        stored, nick = registration.password, registration.nick
        now = self.desk.clock()
        remembered = registration.proven_from(client.budget, self.guessing.remembered_since(now))
        counts = limits(Door.IDENTIFY, str(client.id), client.budget, key, remembered, self.guessing)
        # A key-only nick has no password to check, but the attempt counts all the same (and is audited).
        checked = await self.verifier.verify(counts, lambda: _checks(secret, stored))
        wrong = "Wrong password" if stored else _no_password(nick)
        if self.desk.refused_guess(client, Door.IDENTIFY, nick, checked, wrong):
            return
        current = self.nicks.get(key)
        if current is not None and current.password == stored:  # not changed meanwhile
            await self._proven(client, current, None)

    def prove_on_arrival(self, client: Client, nick: str | None, token: str | None) -> None:
        """A client asking for a registered nick proves it before it joins: with a token the page
        kept (``?nick=ann&token=...``), or over SSH with a key the nick is registered to. A token
        that proves nothing (revoked, or from a registration since lapsed) is remembered, so the
        page is told in words why it is not signed in."""
        if not nick:
            return
        try:
            key = nick_key(normalize_nick(nick))
        except NickError:
            return
        registration = self.nicks.get(key)
        if registration is None:
            return
        now = self.desk.clock()
        device = self._device(registration, token) if token else None
        if device is not None:
            proved = registration.token_used(device, now)
        elif client.key_fingerprint is not None and client.key_fingerprint in registration.fingerprints:
            proved = registration
        else:
            if token:
                self.stale[client.id] = key
            return
        self.identified[client.id] = key
        self.keep(proved.used(now, client.budget, self.guessing.remembered_since(now)))
        self.spawn(self._write(registration, self.nicks[key]))

    # -- proving -----------------------------------------------------------------------------

    async def _proven(self, client: Client, registration: Registration, token: str | None) -> None:
        """The client owns this registered nick: mark it, and give it the nick; a page that proved it
        with its password gets a token of its own to keep (``token``: the one it proved it with)."""
        now = self.desk.clock()
        registration = registration.used(now, client.budget, self.guessing.remembered_since(now))
        if token is None:
            token, registration = self._device_token(client, registration)
        await self._keep(registration)
        self.identified[client.id] = registration.mask
        self.asked.pop(client.id, None)
        self.stale.pop(client.id, None)
        self._tell_owner(client, registration, token, f"You are identified as {registration.nick}")
        if client.id in self.hub.room and nick_key(self.hub.room.nick_of(client.id)) != registration.mask:
            self.hub.interpret(client, f"/nick {registration.nick}")
        self.desk.joined(client)

    def _device_token(
        self, client: Client, registration: Registration, wanted: bool = False
    ) -> tuple[str, Registration]:
        """A new token for this client's device, if it keeps one (the page does: it signs in with it
        next time) or ``wanted``; else ("", the registration unchanged)."""
        if client.gateway is not Gateway.WEB and not wanted:
            return "", registration
        token = passwords.new_token()
        registration, _ = registration.with_token(passwords.token_digest(token), self.desk.clock())
        return token, registration

    @staticmethod
    def _device(registration: Registration, secret: str) -> DeviceToken | None:
        """The token of ``registration`` that ``secret`` is, if any (each compared in constant time)."""
        matches = [t for t in registration.tokens if passwords.check_token(secret, t.digest)]
        return matches[0] if matches else None

    async def _keep(self, registration: Registration) -> None:
        """Hold it here first, so a command in the same burst builds on it; then store it."""
        held = self.nicks.get(registration.mask)
        self.keep(registration)
        await self._write(held, registration)

    async def _write(self, before: Registration | None, after: Registration | None) -> None:
        """Store what changed from ``before`` to ``after`` (None: none; after None: it is gone). A
        token is written or deleted only when it changed here, so a token another process added
        meanwhile is left as it is."""
        if after is not None:
            await self.store.put(Table.NICKS, after.mask, after.stored())
        elif before is not None:
            await self.store.delete(Table.NICKS, before.mask)
        now = {t.id: t for t in after.tokens} if after else {}
        for token in before.tokens if before else ():
            if token.id not in now:
                await self.store.delete(Table.TOKENS, token.key)
        was = {t.id: t for t in before.tokens} if before else {}
        for token in now.values():
            if token.id not in was:
                await self.store.put(Table.TOKENS, token.key, token.record())
            elif token != was[token.id]:  # used: noted only if no other process has revoked it meanwhile
                await self.store.update(Table.TOKENS, token.key, token.record())

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

    def replace_all(self, registrations: dict[str, Registration], tokens: dict[str, DeviceToken]) -> None:
        """Hold exactly these (the store read again), each with its tokens. A registration stored
        before devices had tokens of their own brings its one token: it is moved to a record of
        its own; tokens of a registration that is gone are deleted."""
        held: dict[str, list[DeviceToken]] = {}
        for token in tokens.values():
            held.setdefault(token.mask, []).append(token)
        self.nicks, self.index = {}, NickIndex()
        for registration in registrations.values():
            stored = sorted(held.pop(registration.mask, []), key=_made)
            ids = {t.id for t in stored}
            old = tuple(t for t in registration.tokens if t.id not in ids)
            self.keep(replace(registration, tokens=(*stored, *old)))
            if old:
                self.spawn(self._write(replace(registration, tokens=()), self.nicks[registration.mask]))
        for orphans in held.values():
            for token in orphans:
                self.spawn(self.store.delete(Table.TOKENS, token.key))

    async def token(self, client: Client, rest: str) -> None:
        """``/token``: a new token for the nick one has proved, to prove it from another device
        (``/identify NICK TOKEN``, or the page's saved sign-in); ``/token list`` and ``/token revoke
        ID|all`` manage them. The others keep working: each device has its own."""
        key = self.identified.get(client.id)
        registration = self.nicks.get(key) if key is not None else None
        if registration is None:
            self.hub.error(client, "No registered nick proved: /register or /identify first", "usage")
            return
        registration = await self._fresh(registration)
        verb, _, argument = rest.partition(" ")
        if verb.lower() == "list" and not argument:
            self._reply(client, _token_list(registration, self.desk.clock()))
        elif verb.lower() == "revoke" and argument.strip():
            await self._revoke(client, registration, argument.strip())
        elif not rest:
            token, registration = self._device_token(client, registration, wanted=True)
            await self._keep(registration)
            self._tell_token(client, registration, token)
        else:
            self.hub.error(client, "Usage: /token, /token list, /token revoke ID|all", "usage")

    async def _fresh(self, registration: Registration) -> Registration:
        """The registration with the tokens every process has stored (another process may have
        added one a moment ago, and not yet announced it)."""
        if not self.store.shared:
            return self.nicks.get(registration.mask, registration)
        tokens = []
        for key, record in (await self.store.read(Table.TOKENS)).items():
            if key.startswith(registration.mask + " "):
                with contextlib.suppress(ValueError, TypeError, KeyError):
                    tokens.append(DeviceToken.read(record))
        fresh = replace(self.nicks.get(registration.mask, registration), tokens=tuple(sorted(tokens, key=_made)))
        self.keep(fresh)
        return fresh

    async def _revoke(self, client: Client, registration: Registration, which: str) -> None:
        named = which.lstrip("#").lower()
        if named == "all":
            ids = None
        elif named in {t.id for t in registration.tokens}:
            ids = frozenset({named})
        else:
            self.hub.error(client, f"No token {which} for {registration.nick}: /token list shows them", "usage")
            return
        kept = registration.without_tokens(ids)
        await self._keep(kept)
        count = len(registration.tokens) - len(kept.tokens)
        self.desk.audit(Noted.TOKENS_REVOKED, registration.nick, detail=str(count))
        self._reply(client, f"Revoked {count} token{'s' if count != 1 else ''} of {registration.nick}")

    def _tell_token(self, client: Client, registration: Registration, token: str) -> None:
        text = f"Your token for {registration.nick}: {token} — /identify {registration.nick} TOKEN proves it elsewhere"
        self._tell_owner(client, registration, token, text)

    def _reply(self, client: Client, text: str) -> None:
        self.hub.tell(client, Event(Kind.SYSTEM, text=text))

    def _tell_owner(self, client: Client, registration: Registration, token: str, text: str) -> None:
        """The owner is told, with the token the page keeps to prove the nick next time."""
        self.hub.tell(client, Event(Kind.IDENTIFIED, nick=registration.nick, text=text, to=token))

    def _own_key(self, client: Client) -> str:
        return nick_key(self.hub.room.nick_of(client.id)) if client.id in self.hub.room else ""


def _checks(secret: str, stored: str | None) -> bool:
    return stored is not None and passwords.check_password(secret, stored)


def _no_password(nick: str) -> str:
    return f"{nick} has no password: its SSH key proves it, or /identify {nick} TOKEN"


def _made(token: DeviceToken) -> float:
    return token.created


def _how_to_prove(registration: Registration, stale_token: bool) -> str:
    """What someone asking for a registered nick is told (the nick's owner is the one who can act on it)."""
    nick = registration.nick
    if stale_token:
        how = "/identify PASSWORD" if registration.password else "its SSH key, or /identify TOKEN"
        return f"your saved sign-in for {nick} was revoked: {how}"
    if registration.password is None:
        return f"'{nick}' is a registered nick: its SSH key proves it, or /identify {nick} TOKEN if it is yours"
    return f"'{nick}' is a registered nick: /identify PASSWORD if it is yours"


def _token_list(registration: Registration, now: float) -> str:
    if not registration.tokens:
        return f"No tokens for {registration.nick}: /token makes one"
    lines = [f"Tokens of {registration.nick} ({len(registration.tokens)} of {MAX_TOKENS}; /token revoke ID|all):"]
    lines += [f"#{t.id} made {_when(t.created)}, last used {_when(t.last_used)}" for t in registration.tokens]
    return "\n".join(lines)


def _when(stamp: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(stamp))

"""Who someone is, and what they are in a room: people, founders, room operator grants and
server operators, for the moderation desk (``app.hub.desk``) and its table of powers.

A person is a ``Person`` (``app.domain.people``): the registration they proved, or a guest's
session and address. A room's founder is whoever made it (for a guest, for that session only);
grants go to registrations; server operators are sessions. Founders and grants are kept in the
moderation store; a role is read from them (``rank``) whenever a command needs it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Protocol, TypeVar

from app.bus.moderation import Table
from app.domain.moderation import Role, op_key
from app.domain.nicks import nick_key
from app.domain.people import Person
from app.domain.room import Member, RemoteMember
from app.domain.rooms import RoomError, RoomName, room_name
from app.hub.contract import Client, Desk
from app.hub.identities import Identities

log = logging.getLogger("app.moderation")
T = TypeVar("T")


class StandingDesk(Desk, Protocol):
    """The desk as standing uses it: with its protected nicks, the registrations people prove."""

    identities: Identities


class Standing:
    """Founders, grants and server operators, kept in step with the store by the desk."""

    def __init__(self, desk: StandingDesk) -> None:
        self.desk = desk
        self.hub = desk.hub
        self.founders: dict[RoomName, Person] = {}
        """Each room's founder: the registration that made it, or for the session a guest's
        connection (an empty ``Person()``, no one, once that guest has left: the room has no owner,
        and nobody claims it)."""
        self.room_ops: dict[str, Person] = {}
        """Room operator grants by ``op_key(room, registration)``: to a registration, which a lapse ends."""
        self.operators: set[str] = set()
        """Sessions (here and in other processes) that proved the server's operator password."""
        self.run = secrets.token_hex(4)
        """Names this process's sessions when no shared bus names the process: a guest's mute or
        founding never passes to a connection that reuses its id after a restart."""

    async def load(self) -> None:
        """Read founders and grants again (after the registrations they may name)."""
        self.room_ops = await self._people(Table.OPS, lambda key, record: key.rpartition(" ")[2])
        self.founders = by_room(await self._people(Table.FOUNDERS, lambda key, record: record))

    async def _people(self, table: Table, nick_of: Callable[[str, str], str]) -> dict[str, Person]:
        """Founders or grants, each a ``Person``. One written before they named people named a nick
        (``nick_of(key, record)``): it is kept, bound to that nick's registration, only if the nick
        is registered; an unregistered grantee loses the role, and a room whose founder was never
        registered has no owner (nobody claims it by arriving)."""
        people = {}
        for key, record in (await self.desk.store.read(table)).items():
            try:
                people[key] = Person.read(record)
                continue
            except (ValueError, TypeError):
                pass
            registration = self.desk.identities.nicks.get(nick_key(nick_of(key, record)))
            if registration is None:
                log.info("%s record %r named a nick never registered: the role is gone", table.value, key)
            if registration is None and table is Table.OPS:
                await self.desk.store.delete(table, key)
                continue
            owner = Person(registration.nick, registration.mask, registration.registered) if registration else Person()
            people[key] = owner
            await self.desk.store.put(table, key, owner.record())
        return people

    def session(self, process: str, conn: int) -> str:
        """The session of connection ``conn`` of ``process`` ("": this one, when the bus is not shared)."""
        return f"{process or self.run}:{conn}"

    def person(self, client: Client, nick: str | None = None) -> Person:
        """Who a client of this process is: the registration it proved, its session and address.
        ``nick``: the one it asks for, before it is in."""
        key = self.desk.identities.identified.get(client.id)
        registration = self.desk.identities.nicks.get(key) if key is not None else None
        if nick is None:
            nick = self.hub.room.nick_of(client.id) if client.id in self.hub.room else ""
        return Person(
            nick,
            registration.mask if registration else "",
            registration.registered if registration else 0.0,
            self.session(self.hub.bus.process, client.id),
            client.budget or "",
        )

    def person_of(self, member: Member | RemoteMember) -> Person:
        """Who a member is, here or in another process (which has its address: a registered nick
        can only be held by its proven owner, so holding one proves it)."""
        if isinstance(member, Member):
            client = self.hub.clients.get(member.id)
            if client is not None:
                return self.person(client)
        registration = self.desk.identities.nicks.get(nick_key(member.nick))
        process, conn = (member.process, member.conn) if isinstance(member, RemoteMember) else ("", member.id)
        return Person(
            member.nick,
            registration.mask if registration else "",
            registration.registered if registration else 0.0,
            self.session(process, conn),
        )

    def role(self, client: Client, room: RoomName) -> Role:
        return self.rank(self.person(client), room)

    def role_of(self, member: Member | RemoteMember | None, room: RoomName) -> Role:
        return self.rank(self.person_of(member), room) if member is not None else Role.MEMBER

    def rank(self, person: Person, room: RoomName) -> Role:
        """Server operators are above everyone everywhere (for their session); a room's founder is
        its owner; the registrations made operators there are its operators (once proved)."""
        if person.session in self.operators:
            return Role.SERVER_OPERATOR
        founder = self.founders.get(room)
        if founder is not None and founder.same(person):
            return Role.FOUNDER
        grant = self.room_ops.get(op_key(room, person.registration)) if person.registration else None
        if grant is not None and grant.same(person):
            return Role.ROOM_OPERATOR
        return Role.MEMBER

    def left(self, client: Client) -> None:
        """A connection is gone: so are its session's powers. A room a guest made has no owner
        now, unless they registered in the meantime: then it is their registration's."""
        person = self.person(client)
        self.operators.discard(person.session)
        for room, founder in list(self.founders.items()):
            if not founder.registration and founder.session == person.session:
                owner = founder.registered(person.registration, person.since) if person.registration else Person()
                self.founders[room] = owner
                self.desk.spawn(self.desk.store.put(Table.FOUNDERS, room, owner.record()))

    async def claim(self, client: Client, room: RoomName) -> None:
        """If this client made the room (joined it first, here, on this connection, under whatever
        nick), the registration it proved is the
        room's founder, kept in the store so an emptied room or a restart hands it to nobody else;
        a guest is its founder for their session only. Arriving in a room someone else made grants
        nothing, nor does the default room. Asked when the entry is delivered, and before a
        command in the room (which may come first when the delivery takes a round trip). Two
        processes may each think they made a room; the store takes the first claim only."""
        state = self.hub.room.rooms.get(room)
        if (
            room == self.hub.room.rooms.default
            or room in self.founders
            or state is None
            or client.id not in state.members
            or state.made_by != client.id
        ):
            return
        person = self.person(client)
        founder = Person(person.nick, person.registration, person.since, "" if person.registration else person.session)
        if await self.desk.store.put_new(Table.FOUNDERS, room, founder.record()):
            self.founders[room] = founder
            self.desk.founded(person.nick, room)
            return
        stored = (await self.desk.store.read(Table.FOUNDERS)).get(room)
        try:
            self.founders[room] = Person.read(stored) if stored is not None else Person()
        except (ValueError, TypeError):
            self.founders[room] = Person()


def by_room(records: dict[str, T]) -> dict[RoomName, T]:
    """Records keyed by a room's name, read into its one spelling (one under a name that is no
    room's, written by hand or by another program, is skipped with a warning)."""
    kept = {}
    for name, record in records.items():
        try:
            kept[room_name(name)] = record
        except RoomError:
            log.warning("skipped a record of %r: not a room's name", name[:40])
    return kept

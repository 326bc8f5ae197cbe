"""Who may use which moderation command, where, and on whom: one table, checked before any handler runs.

Modelled on ergo's command table and ssh-chat's ``Op`` flag. Every command the moderation desk
takes has a ``Power``: the role it needs, the scope it acts in, and whom it reaches. ``judge``
reads the table; the desk asks it once, before dispatching, so no handler can forget a check.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, StrEnum

from app.domain.moderation import Role


class Scope(StrEnum):
    """Where a command acts: in the room it was typed for, or on the whole server."""

    ROOM = "room"
    SERVER = "server"


class Reach(Enum):
    """Whom a command's first argument names, as the rank rules see it."""

    NOBODY = "nobody"  # the room itself, an address, a message, or the actor
    MEMBER = "member"  # someone in the room, whom the actor must not be below
    ANYONE = "anyone"  # someone anywhere on the server (when online), whom the actor must not be below
    NAMED = "named"  # someone a sanction is lifted from or a door opened to: present or not, any rank


class Denial(StrEnum):
    """Why a command is refused before it runs; the value is the error code clients see."""

    NOT_OPERATOR = "not_operator"
    NOT_IN_ROOM = "not_in_room"
    OUTRANKED = "outranked"


@dataclass(frozen=True, slots=True)
class Power:
    needs: Role
    scope: Scope
    reach: Reach = Reach.NOBODY
    widens: bool = False
    """A server operator's use acts on the whole server (``/kick`` disconnects), a room operator's in the room."""
    verb: str = ""
    """What a refusal says one may not do (default: the command itself)."""
    names_room: bool = False
    """Its first argument may name the room it acts in (``/modlog #dev``), where the role is taken."""

    def scope_for(self, role: Role) -> Scope:
        return Scope.SERVER if self.widens and role is Role.SERVER_OPERATOR else self.scope

    def reach_for(self, role: Role) -> Reach:
        return Reach.ANYONE if self.scope_for(role) is Scope.SERVER and self.reach is Reach.MEMBER else self.reach


@dataclass(frozen=True, slots=True)
class Target:
    """The person a command names, as the rank rules need them."""

    role: Role
    """Their role in the room the command acts in."""
    in_room: bool


_ANYONE = Power(Role.MEMBER, Scope.SERVER)
_ROOM_OP = Role.ROOM_OPERATOR
_SERVER_OP = Role.SERVER_OPERATOR

POWERS: dict[str, Power] = {
    "oper": _ANYONE,
    "ignore": _ANYONE,
    "unignore": _ANYONE,
    "register": _ANYONE,
    "identify": _ANYONE,
    "token": _ANYONE,
    "kick": Power(_ROOM_OP, Scope.ROOM, Reach.MEMBER, widens=True),
    "remove": Power(_ROOM_OP, Scope.ROOM, Reach.MEMBER),
    "roomban": Power(_ROOM_OP, Scope.ROOM, Reach.MEMBER),
    "roomunban": Power(_ROOM_OP, Scope.ROOM, Reach.NAMED),
    "roombans": Power(_ROOM_OP, Scope.ROOM),
    "mute": Power(_ROOM_OP, Scope.ROOM, Reach.MEMBER),
    "unmute": Power(_ROOM_OP, Scope.ROOM, Reach.NAMED),
    "op": Power(_ROOM_OP, Scope.ROOM, Reach.MEMBER),
    "deop": Power(_ROOM_OP, Scope.ROOM, Reach.NAMED),
    "invite": Power(_ROOM_OP, Scope.ROOM, Reach.NAMED),
    "slow": Power(_ROOM_OP, Scope.ROOM),
    "lock": Power(_ROOM_OP, Scope.ROOM),
    "unlock": Power(_ROOM_OP, Scope.ROOM),
    "topic": Power(_ROOM_OP, Scope.ROOM),
    "redact": Power(_ROOM_OP, Scope.ROOM),
    "modlog": Power(_ROOM_OP, Scope.ROOM, verb="read /modlog", names_room=True),
    "ban": Power(_SERVER_OP, Scope.SERVER, Reach.ANYONE),
    "unban": Power(_SERVER_OP, Scope.SERVER),
    "bans": Power(_SERVER_OP, Scope.SERVER),
}
"""Every command the moderation desk takes. A room operator (a founder included) acts in the room
the command was typed for, on its members; only server operators act on the whole server."""


def judge(power: Power, actor: Role, target: Target | None) -> Denial | None:
    """Why ``actor`` (their role where the command acts) may not use ``power`` on ``target`` (None:
    it names no one present), or None if they may. Nobody acts on someone above them: a room's
    operators not on its founder, and nobody below a server operator on one."""
    if actor < power.needs:
        return Denial.NOT_OPERATOR
    reach = power.reach_for(actor)
    if target is None or reach in (Reach.NOBODY, Reach.NAMED):
        return None
    if reach is Reach.MEMBER and not target.in_room:
        return Denial.NOT_IN_ROOM
    return Denial.OUTRANKED if target.role > actor else None

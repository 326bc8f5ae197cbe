"""The table of powers: every moderation command × every role × a target inside or outside the
room × the target's role, and the scope each use acts in. No server: the desk asks exactly this."""

from __future__ import annotations

import itertools

import pytest

from app.domain.moderation import Role
from app.domain.powers import POWERS, Denial, Scope, Target, judge

GUEST, ROOM_OP, FOUNDER, SERVER_OP = Role.MEMBER, Role.ROOM_OPERATOR, Role.FOUNDER, Role.SERVER_OPERATOR

NEEDS = {
    **dict.fromkeys(["oper", "ignore", "unignore", "register", "identify", "token"], GUEST),
    **dict.fromkeys(
        ["kick", "remove", "roomban", "roomunban", "roombans", "mute", "unmute", "op", "deop", "invite"], ROOM_OP
    ),
    **dict.fromkeys(["slow", "lock", "unlock", "topic", "redact", "modlog"], ROOM_OP),
    **dict.fromkeys(["ban", "unban", "bans"], SERVER_OP),
}
"""The spec: the least role each command needs (bans span the server and outlast the session)."""
ON_A_MEMBER = {"kick", "remove", "roomban", "mute", "op"}
"""Commands that act on someone in the room, who must not be above the actor."""
ON_ANYONE = {"ban"}
"""Acts on someone wherever they are on the server (only server operators have it)."""


def expected(command: str, actor: Role, in_room: bool, target: Role) -> Denial | None:
    if actor < NEEDS[command]:
        return Denial.NOT_OPERATOR
    server_wide = command in ON_ANYONE or (command == "kick" and actor is SERVER_OP)
    if command in ON_A_MEMBER and not server_wide and not in_room:
        return Denial.NOT_IN_ROOM
    if (command in ON_A_MEMBER or command in ON_ANYONE) and target > actor:
        return Denial.OUTRANKED
    return None


def test_the_table_has_every_command_of_the_spec() -> None:
    assert set(POWERS) == set(NEEDS)


@pytest.mark.parametrize("command", sorted(NEEDS))
def test_every_command_by_every_role_on_every_target(command: str) -> None:
    roles = (GUEST, ROOM_OP, FOUNDER, SERVER_OP)
    for actor, in_room, target in itertools.product(roles, (True, False), roles):
        got = judge(POWERS[command], actor, Target(target, in_room))
        assert got == expected(command, actor, in_room, target), (command, actor.name, in_room, target.name)


@pytest.mark.parametrize(
    ("command", "actor", "target", "in_room", "denial"),
    [
        ("kick", GUEST, SERVER_OP, False, Denial.NOT_OPERATOR),  # a guest never reaches a server operator
        ("kick", FOUNDER, GUEST, False, Denial.NOT_IN_ROOM),  # a founder's /kick stops at the room's door
        ("kick", FOUNDER, SERVER_OP, True, Denial.OUTRANKED),
        ("mute", ROOM_OP, FOUNDER, True, Denial.OUTRANKED),  # a room's operators cannot act on its founder
        ("roomban", ROOM_OP, ROOM_OP, True, None),  # operators of one room are peers
        ("kick", SERVER_OP, GUEST, False, None),  # a server operator's kick reaches the whole server
        ("mute", SERVER_OP, GUEST, False, Denial.NOT_IN_ROOM),  # a mute is a room's, whoever sets it
        ("ban", FOUNDER, GUEST, True, Denial.NOT_OPERATOR),
        ("ban", SERVER_OP, SERVER_OP, False, None),
        ("unmute", ROOM_OP, SERVER_OP, False, None),  # lifting or inviting outranks no one
        ("invite", FOUNDER, SERVER_OP, False, None),
    ],
)
def test_the_rules_the_issue_names(command: str, actor: Role, target: Role, in_room: bool, denial: Denial) -> None:
    assert judge(POWERS[command], actor, Target(target, in_room)) == denial


def test_with_no_one_named_only_the_role_counts() -> None:
    assert judge(POWERS["kick"], ROOM_OP, None) is None
    assert judge(POWERS["slow"], GUEST, None) is Denial.NOT_OPERATOR


def test_a_kick_acts_on_the_server_only_for_a_server_operator() -> None:
    assert [POWERS["kick"].scope_for(role) for role in (ROOM_OP, FOUNDER, SERVER_OP)] == [
        Scope.ROOM,
        Scope.ROOM,
        Scope.SERVER,
    ]
    assert POWERS["remove"].scope_for(SERVER_OP) is Scope.ROOM
    assert POWERS["ban"].scope_for(SERVER_OP) is Scope.SERVER

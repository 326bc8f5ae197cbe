"""People as moderation names them: powers follow a registration (until it lapses) or a guest's
session; restrictions also follow the address and a guest's nick; records written before are read."""

from __future__ import annotations

from app.domain.moderation import RoomRules, Sanction, held, naming
from app.domain.people import Person

ANN = Person("ann", "ann", since=100.0, session="p:1", address="203.0.113.1")
GUEST = Person("guest1", session="p:2", address="203.0.113.2")


def test_a_registration_is_the_same_person_on_any_connection_until_it_is_made_again() -> None:
    assert ANN.same(Person("ann2", "ann", since=100.0, session="p:9"))  # another nick, another connection
    assert not ANN.same(Person("ann", "ann", since=500.0, session="p:1"))  # lapsed, registered again by another
    assert not ANN.same(Person("ann", session="p:3"))  # the spelling alone is no one


def test_a_guest_is_its_session_for_powers_and_also_its_address_and_nick_for_restrictions() -> None:
    renamed = Person("other", session="p:2", address="203.0.113.2")
    reconnected = Person("someone", session="p:7", address="203.0.113.2")
    same_nick_on_loopback = Person("guest1", session="p:8")
    assert GUEST.same(renamed) and not GUEST.same(reconnected) and not GUEST.same(same_nick_on_loopback)
    assert GUEST.covers(renamed) and GUEST.covers(reconnected) and GUEST.covers(same_nick_on_loopback)
    assert not GUEST.covers(Person("stranger", session="p:9", address="198.51.100.1"))
    assert GUEST.admits(reconnected) and not GUEST.admits(same_nick_on_loopback)  # an invitation: no spelling
    registered_later = Person("guest1", "guest1", since=900.0, session="p:2")
    assert GUEST.same(registered_later)  # registering in the session keeps what the session had


def test_nobody_matches_a_room_without_an_owner() -> None:
    assert not Person().same(Person()) and not Person().same(GUEST) and not Person().same(ANN)


def test_a_mute_holds_in_its_room_only_while_it_lasts_and_is_lifted_by_either_name() -> None:
    mute = Sanction("#dev", GUEST, "op", until=60.0)
    mutes = {mute.key: mute}
    renamed = Person("other", session="p:2")
    assert held(mutes, "#dev", renamed, 10.0) is mute
    assert held(mutes, "#main", renamed, 10.0) is None
    assert held(mutes, "#dev", renamed, 61.0) is None
    assert naming(mutes, "#dev", renamed, "other") == [mute.key]
    assert naming(mutes, "#dev", None, "GUEST1") == [mute.key]  # the nick it was given under, absent now
    assert naming(mutes, "#dev", None, "other") == []


def test_records_written_before_people_are_read_as_guests_nicks_and_invitations_lapse() -> None:
    old_mute = '{"room":"#dev","mask":"bob","nick":"bob","by":"op","until":null}'
    mute = Sanction.read(old_mute)
    assert mute.person == Person("bob") and mute.person.covers(Person("bob", session="x"))
    rules = RoomRules.read('{"room":"#dev","invite_only":true,"invited":["bob"],"topic_locked":false,"slow":0}')
    assert rules.invited == () and not rules.admits(Person("bob", session="x"))
    ban = Sanction("#dev", ANN, "op", None, "spam")
    assert Sanction.read(ban.record()) == ban

"""The shared keepalive: one timer pings every WebSocket, and closes those that stop answering."""

from __future__ import annotations

import asyncio

from app.gateways.keepalive import PING, Keepalive


class Peer:
    """A connection as the keepalive sees it; ``answers`` says whether it returns pongs."""

    def __init__(self, keepalive: Keepalive, answers: bool) -> None:
        self.keepalive = keepalive
        self.answers = answers
        self.pong_due = 0.0
        self.pings: list[bytes] = []
        self.timed_out = False

    def send_ping(self, frame: bytes) -> None:
        self.pings.append(frame)
        if self.answers:
            asyncio.get_running_loop().call_soon(setattr, self, "pong_due", 0.0)

    def ping_timed_out(self) -> None:
        self.timed_out = True
        self.keepalive.discard(self)


async def _rounds(keepalive: Keepalive, *peers: Peer, rounds: int) -> None:
    for peer in peers:
        keepalive.add(peer)
    while max(len(peer.pings) for peer in peers) < rounds:
        await asyncio.sleep(keepalive.interval / 2)


def test_a_peer_that_answers_is_pinged_every_round_and_one_that_does_not_is_closed() -> None:
    keepalive = Keepalive(interval=0.02, timeout=0.01)
    live, deaf = Peer(keepalive, answers=True), Peer(keepalive, answers=False)
    asyncio.run(_rounds(keepalive, live, deaf, rounds=4))
    assert live.pings == [PING] * 4 and not live.timed_out
    assert deaf.pings == [PING] and deaf.timed_out
    assert keepalive.members == {live}


def test_a_peer_still_waiting_for_its_answer_is_not_pinged_again() -> None:
    keepalive = Keepalive(interval=0.01, timeout=10.0)
    slow, live = Peer(keepalive, answers=False), Peer(keepalive, answers=True)
    asyncio.run(_rounds(keepalive, slow, live, rounds=3))
    assert slow.pings == [PING] and not slow.timed_out


def test_without_a_timeout_peers_are_pinged_but_never_closed() -> None:
    keepalive = Keepalive(interval=0.01, timeout=0)
    deaf = Peer(keepalive, answers=False)
    asyncio.run(_rounds(keepalive, deaf, rounds=3))
    assert deaf.pings == [PING] * 3 and not deaf.timed_out


def test_an_interval_of_zero_sends_no_pings() -> None:
    keepalive = Keepalive(interval=0, timeout=1.0)
    keepalive.add(Peer(keepalive, answers=True))
    assert not keepalive.members

"""Fan-out: shared writes for clients in step, own backlogs for the rest, overflow only under
back-pressure. The test plays the end of a loop turn by calling ``flusher.flush()``."""

from __future__ import annotations

import asyncio

from app.codecs.pieces import runs
from app.delivery.fanout import REPLAY_WINDOW, Channel, Flusher, Outbox, Run
from app.delivery.laggards import Laggards, OutboxLimits
from app.domain.events import Event, Kind


class Codec:
    """Chunks are the event text; packing joins them with '|' so writes are easy to read."""

    def __init__(self) -> None:
        self.encoded = 0
        self.packed = 0

    def encode(self, event: Event, own: bool) -> str | None:
        self.encoded += 1
        if own and event.text == "silent":
            return None
        return ("own:" if own else "") + event.text

    def pack(self, chunks: list[str]) -> list[bytes]:
        self.packed += 1
        return ["|".join(chunks).encode()]


def said(text: str) -> Event:
    return Event(Kind.MESSAGE, nick="ann", text=text)


class Client:
    def __init__(self, channel: Channel[str]) -> None:
        self.writes: list[bytes] = []
        self.overflows = 0
        self.outbox = Outbox(channel, self.writes.append, self.overflow)
        self.outbox.open()

    def overflow(self) -> None:
        self.overflows += 1


def setup(clients: int = 3, max_bytes: int = 1000) -> tuple[Flusher, Channel[str], list[Client]]:
    flusher = Flusher(schedule=lambda flush: None)
    channel = Channel(Codec(), Laggards(OutboxLimits(max_bytes), later=lambda delay, look: None), flusher)
    members = [Client(channel) for _ in range(clients)]
    flusher.flush()  # the first turn writes nothing and brings everyone in step
    return flusher, channel, members


def test_a_broadcast_is_encoded_and_packed_once_and_the_same_bytes_reach_everyone() -> None:
    flusher, channel, clients = setup()
    channel.broadcast(said("a"))
    channel.broadcast(said("b"))
    flusher.flush()
    assert channel.codec.encoded == 2
    assert channel.codec.packed == 1
    assert [c.writes for c in clients] == [[b"a|b"]] * 3
    assert clients[0].writes[0] is clients[1].writes[0]


def test_nothing_pending_writes_nothing() -> None:
    flusher, _, clients = setup()
    flusher.flush()
    assert all(c.writes == [] for c in clients)


def test_a_chunk_for_one_client_keeps_its_order_with_the_broadcasts() -> None:
    flusher, channel, (alice, bob, _) = setup()
    channel.broadcast(said("1"))
    alice.outbox.push("just for alice")
    channel.broadcast(said("2"))
    flusher.flush()
    assert alice.writes == [b"1|just for alice|2"]
    assert bob.writes == [b"1|2"]
    channel.broadcast(said("3"))
    flusher.flush()
    assert alice.writes[-1] is bob.writes[-1], "alice is back in step after her own write"


def test_the_sender_is_left_out_of_the_broadcast_and_gets_its_own_version() -> None:
    flusher, channel, (alice, bob, _) = setup()
    channel.broadcast(said("before"))
    channel.broadcast(said("mine"), exclude=alice.outbox)
    alice.outbox.push("own:mine")
    flusher.flush()
    assert alice.writes == [b"before|own:mine"]
    assert bob.writes == [b"before|mine"]


def test_a_client_that_opens_gets_what_it_was_pushed_before_any_broadcast() -> None:
    flusher, channel, (alice,) = setup(clients=1)
    late = Client.__new__(Client)
    late.writes, late.overflows = [], 0
    late.outbox = Outbox(channel, late.writes.append, late.overflow)
    channel.broadcast(said("before it opened"))
    late.outbox.push("welcome")
    late.outbox.open()
    channel.broadcast(said("live"))
    flusher.flush()
    assert late.writes == [b"welcome|live"]
    assert alice.writes == [b"before it opened|live"]


def test_a_burst_does_not_drop_a_client_that_is_keeping_up() -> None:
    flusher, channel, (alice,) = setup(clients=1, max_bytes=4)
    alice.outbox.push("own")
    for i in range(50):
        channel.broadcast(said(str(i)))
    flusher.flush()
    assert alice.overflows == 0
    assert alice.writes == ["|".join(["own", *map(str, range(50))]).encode()]


def test_a_back_pressured_client_keeps_its_backlog_until_writable() -> None:
    flusher, channel, (alice, bob) = setup(clients=2)
    alice.outbox.blocked()
    channel.broadcast(said("1"))
    channel.broadcast(said("2"))
    flusher.flush()
    assert alice.writes == []
    assert bob.writes == [b"1|2"]
    alice.outbox.writable()
    flusher.flush()
    assert alice.writes == [b"1|2"]
    channel.broadcast(said("3"))
    flusher.flush()
    assert alice.writes[-1] is bob.writes[-1]


def test_blocking_during_its_own_write_keeps_the_rest_for_later() -> None:
    flusher, channel, (alice,) = setup(clients=1)

    def write_then_block(data: bytes) -> None:
        alice.writes.append(data)
        alice.outbox.blocked()

    alice.outbox.write = write_then_block
    channel.broadcast(said("1"))
    flusher.flush()
    channel.broadcast(said("2"))
    flusher.flush()
    assert alice.writes == [b"1"]
    alice.outbox.write = alice.writes.append
    alice.outbox.writable()
    flusher.flush()
    assert alice.writes == [b"1", b"2"]


def test_a_back_pressured_client_overflows_once_and_leaves_the_channel() -> None:
    flusher, channel, (alice, bob) = setup(clients=2, max_bytes=3)
    alice.outbox.blocked()
    for i in range(10):
        channel.broadcast(said(str(i)))
    assert alice.overflows == 1
    assert len(channel) == 1
    flusher.flush()
    assert alice.writes == []
    assert bob.writes == [b"0|1|2|3|4|5|6|7|8|9"]


def test_a_back_pressured_client_overflows_by_bytes() -> None:
    _, _, (alice,) = setup(clients=1, max_bytes=10)
    alice.outbox.blocked()
    alice.outbox.push("12345")
    alice.outbox.push("12345")
    assert alice.overflows == 0
    alice.outbox.push("x")
    assert alice.overflows == 1


def test_take_returns_what_was_not_yet_written_and_discard_stops_everything() -> None:
    flusher, channel, (alice, bob) = setup(clients=2)
    channel.broadcast(said("pending"))
    assert alice.outbox.take() == b"pending"
    alice.outbox.discard()
    alice.outbox.push("ignored")
    channel.broadcast(said("later"))
    flusher.flush()
    assert alice.writes == []
    assert bob.writes == [b"pending|later"]


def test_a_failing_write_does_not_stop_the_others() -> None:
    flusher, channel, (alice, bob, carol) = setup()

    def broken(data: bytes) -> None:
        raise OSError("gone")

    alice.outbox.write = broken
    channel.broadcast(said("x"))
    flusher.flush()
    assert bob.writes == carol.writes == [b"x"]


def test_the_real_flusher_writes_once_at_the_end_of_the_loop_turn() -> None:
    async def scenario() -> tuple[list[bytes], list[bytes]]:
        flusher = Flusher()
        channel = Channel(Codec(), Laggards(), flusher)
        client = Client(channel)
        channel.broadcast(said("a"))
        channel.broadcast(said("b"))
        before = list(client.writes)
        await asyncio.sleep(0)
        return before, client.writes

    before, after = asyncio.run(scenario())
    assert before == []
    assert after == [b"a|b"]


class PiecesCodec(Codec):
    """Packs each chunk as a piece of its own, as a real codec does with a turn over its limit."""

    def pack(self, chunks: list[str]) -> list[bytes]:
        self.packed += 1
        return [chunk.encode() for chunk in chunks]


def test_pieces_of_a_large_turn_reach_everyone_in_order_and_a_client_blocked_midway_gets_the_rest_later() -> None:
    flusher = Flusher(schedule=lambda flush: None)
    channel = Channel(PiecesCodec(), Laggards(later=lambda delay, look: None), flusher)
    alice, bob = Client(channel), Client(channel)
    flusher.flush()

    def write_then_block(data: bytes) -> None:
        alice.writes.append(data)
        if data == b"2":
            alice.outbox.blocked()

    alice.outbox.write = write_then_block
    for text in "1234":
        channel.broadcast(said(text))
    channel.broadcast(said("5"))
    flusher.flush()
    assert bob.writes == [b"1", b"2", b"3", b"4", b"5"]
    assert alice.writes == [b"1", b"2"]
    channel.broadcast(said("6"))
    flusher.flush()
    alice.outbox.writable()
    flusher.flush()
    assert alice.writes == [b"1", b"2", b"3", b"4", b"5", b"6"]
    assert channel.codec.packed == 3  # once per turn for the channel, once for alice's own backlog


def test_a_control_frame_is_written_at_once_while_the_transport_takes_it() -> None:
    _, _, [client] = setup(clients=1)
    client.outbox.push_control(b"pong")
    assert client.writes == [b"pong"]


def test_while_back_pressured_control_frames_wait_in_the_backlog_in_order() -> None:
    flusher, channel, [client] = setup(clients=1, max_bytes=1000)
    client.outbox.blocked()
    client.outbox.push_control(b"pong1")
    channel.broadcast(said("a"))
    flusher.flush()
    client.outbox.push_control(b"pong2")
    assert client.writes == []
    client.outbox.writable()
    flusher.flush()
    assert client.writes == [b"pong1", b"pong2", b"a"]


def test_unread_control_frames_count_toward_the_limit_and_overflow() -> None:
    _, channel, [client] = setup(clients=1, max_bytes=100)
    client.outbox.blocked()
    for _ in range(20):
        client.outbox.push_control(b"p" * 10)
    assert client.overflows == 1
    assert not channel.in_step and not channel.out_of_step


def test_skip_drops_what_is_queued_for_one_client_and_later_output_flows() -> None:
    flusher, channel, (ann, bob, _) = setup()
    channel.broadcast(said("shared"))
    ann.outbox.push("own")
    bob.outbox.skip()  # telnet's Abort Output, in step with the channel
    ann.outbox.skip()  # out of step, with a backlog of its own
    bob.outbox.push("answer")
    flusher.flush()
    assert ann.writes == [] and bob.writes == [b"answer"]
    channel.broadcast(said("later"))
    flusher.flush()
    assert ann.writes == [b"later"] and bob.writes == [b"answer", b"later"]


def test_runs_join_whole_blobs_into_pieces_within_the_limit() -> None:
    blobs = [b"a" * 3, b"b" * 4, b"c" * 2, b"d" * 9, b"e"]
    assert runs(blobs, 7) == [b"aaabbbb", b"cc", b"ddddddddd", b"e"]
    assert b"".join(runs(blobs, 7)) == b"".join(blobs)


class SlowTransport:
    """A transport that pushes back above ``high`` bytes unread and takes more below ``low``, read
    by hand (``read``), like a client on a slow link."""

    def __init__(self, channel: Channel[str], high: int = 100_000, low: int = 20_000) -> None:
        self.high, self.low = high, low
        self.unread: list[bytes] = []
        self.received: list[bytes] = []
        self.paused = False
        self.outbox = Outbox(channel, self.write, lambda: None)
        self.outbox.open()

    @property
    def buffered(self) -> int:
        return sum(map(len, self.unread))

    def write(self, data: bytes) -> None:
        self.unread.append(data)
        if not self.paused and self.buffered > self.high:
            self.paused = True
            self.outbox.blocked()

    def read(self, size: int) -> None:
        while self.unread and size > 0:
            piece = self.unread.pop(0)
            self.received.append(piece[:size])
            if len(piece) > size:
                self.unread.insert(0, piece[size:])
            size -= len(piece)
        if self.paused and self.buffered < self.low:
            self.paused = False
            self.outbox.writable()


def test_a_shared_replay_goes_out_a_window_at_a_time_as_a_slow_client_reads_it_and_in_order() -> None:
    flusher, channel, [fast] = setup(1, max_bytes=10_000)
    slow = SlowTransport(channel)
    flusher.flush()
    run = Run(tuple(f"{n:04d}".encode() * 2500 for n in range(40)), 40)  # 400 KB, 10 KB a piece
    for client in (fast.outbox, slow.outbox):
        client.push("welcome")
        client.push_run(run)
        client.push("live")
    channel.broadcast(said("during"))  # a live event while the replay is still going out
    turns = 0
    while slow.outbox.opened and (slow.unread or slow.outbox.backlog[0] or turns < 2):
        flusher.flush()
        turns += 1
        assert slow.buffered <= slow.high + REPLAY_WINDOW + 10_000, "never the whole replay at once"
        assert slow.outbox.backlog[1] <= REPLAY_WINDOW + 10_000, "of the shared run, a window at most is its own"
        slow.read(30_000)
        assert turns < 100
    expected = b"welcome" + b"".join(run.pieces) + b"live|during"
    assert b"".join(slow.received) == expected
    assert b"".join(fast.writes) == expected
    assert turns > 400_000 // REPLAY_WINDOW, "a window per turn, not all in one"
    assert all(written is piece for written, piece in zip(fast.writes[1:41], run.pieces, strict=True)), (
        "every client is written the same bytes, packed once"
    )

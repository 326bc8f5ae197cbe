"""Clients that stop reading are dropped as "too slow"; everyone else gets every message, in order,
and the server's memory stays bounded."""

from __future__ import annotations

import re
import time

from raw import RawWebSocket, cut_by_peer, rss_kib
from support import ServerProcess, TcpUser, WebUser

from app.domain.goodbye import Goodbye
from app.gateways.closing import CLOSE_TIMEOUT

MESSAGES = 4000
BATCH = 100
PADDING = "x" * 1900  # with the counter, each message is about 2 KB


def numbers_from_tcp(user: TcpUser, publisher: str, upto: int, into: list[int]) -> None:
    pattern = re.compile(rf"\[{publisher}\] m(\d+) ")
    while not into or into[-1] < upto:
        found = pattern.match(user.read_line())
        if found:
            into.append(int(found[1]))


def numbers_from_web(user: WebUser, publisher: str, upto: int, into: list[int]) -> None:
    while not into or into[-1] < upto:
        event = user.next()
        if event["type"] == "message" and event["nick"] == publisher:
            into.append(int(event["text"].split()[0][1:]))


def flood_until_dropped(publisher: TcpUser, laggard: str) -> None:
    """Publish ~2 KB messages until the laggard is dropped: it never reads, so once the kernel's
    buffers and the transport's are full, its outbox overflows. While readers are behind the
    server stops reading from senders (pacing), so a write may wait until the laggard is dropped:
    the publisher's socket waits as long as the last expect does."""
    publisher.sock.settimeout(15)
    for start in range(0, MESSAGES * 2, BATCH):
        publisher.send_raw(b"".join(f"m{n} {PADDING}\r\n".encode() for n in range(start, start + BATCH)))
        if any(line.startswith(f"* {laggard} left") for line in publisher.silent(0.01)):
            return
    publisher.expect(lambda line: line.startswith(f"* {laggard} left"), timeout=15)  # the server may lag behind


def test_stalled_readers_are_dropped_while_others_get_everything_in_order(start_server, record_property) -> None:
    server: ServerProcess = start_server(CHAT_RATE="0")
    tcp_reader, web_reader = server.tcp(nick="tcpreader"), server.web("webreader")
    stalled_tcp = TcpUser(server.tcp_port, nick="stalledtcp", rcvbuf=4096)
    stalled_web = RawWebSocket(server.port, "/ws?nick=stalledweb", rcvbuf=4096)
    assert stalled_web.status == 101
    publisher = server.tcp(nick="publisher")
    assert server.health()["clients"] == {"web": 2, "telnet": 3, "total": 5}
    rss_before = rss_kib(server.pid)

    tcp_got: list[int] = []
    web_got: list[int] = []
    for start in range(0, MESSAGES, BATCH):
        publisher.send_raw(b"".join(f"m{n} {PADDING}\r\n".encode() for n in range(start, start + BATCH)))
        # The healthy readers keep up batch by batch; the stalled ones fall behind for good.
        numbers_from_tcp(tcp_reader, "publisher", start + BATCH - 1, tcp_got)
        numbers_from_web(web_reader, "publisher", start + BATCH - 1, web_got)

    assert tcp_got == list(range(MESSAGES))
    assert web_got == list(range(MESSAGES))
    assert server.health()["clients"] == {"web": 1, "telnet": 2, "total": 3}
    # Neither stalled client ever read a byte, so the close cannot drain: it must be cut anyway.
    assert cut_by_peer(stalled_tcp.sock, CLOSE_TIMEOUT + 5)
    assert cut_by_peer(stalled_web.sock, CLOSE_TIMEOUT + 5)
    web_reader.silent(0.2)
    leaves = {e["nick"]: e.get("text") for e in web_reader.events if e["type"] == "leave"}
    assert leaves == dict.fromkeys(["stalledtcp", "stalledweb"], "too slow")
    rss_after = rss_kib(server.pid)
    record_property("rss_before_kib", rss_before)
    record_property("rss_after_kib", rss_after)
    print(f"server RSS before {rss_before} KiB, after {rss_after} KiB ({(rss_after - rss_before) / 1024:+.1f} MiB)")
    assert rss_after - rss_before < 32 * 1024, (rss_before, rss_after)  # each stalled backlog: at most 4 MiB
    assert "Traceback" not in server.output()


def test_a_web_client_that_falls_behind_is_told_why_in_the_close_frame(start_server) -> None:
    server: ServerProcess = start_server(CHAT_RATE="0", CHAT_OUTBOX_BYTES="65536")
    laggard = RawWebSocket(server.port, "/ws?nick=laggard", rcvbuf=4096)
    publisher = server.tcp(nick="publisher")  # gets no echo of its own lines, so it never falls behind
    flood_until_dropped(publisher, "laggard")
    # It reads again once dropped: the queued frames, the notice, then the reason in the close frame.
    assert laggard.close_frame() == (Goodbye.TOO_SLOW.code, "too slow")


def test_a_tcp_client_that_falls_behind_gets_a_last_line_saying_why(start_server) -> None:
    server: ServerProcess = start_server(CHAT_RATE="0", CHAT_OUTBOX_BYTES="65536")
    laggard = TcpUser(server.tcp_port, nick="laggard", rcvbuf=4096)
    publisher = server.tcp(nick="publisher")  # gets no echo of its own lines, so it never falls behind
    flood_until_dropped(publisher, "laggard")
    assert laggard.expect(lambda line: line.startswith("! Disconnected:")) == f"! {Goodbye.TOO_SLOW.text}"
    assert laggard.closed()


def test_readers_who_keep_up_get_a_burst_larger_than_the_outbox_whole(start_server) -> None:
    # Many events in one loop turn (a reconnect storm of joins, a busy moment) are not a slow reader.
    server: ServerProcess = start_server(CHAT_RATE="0", CHAT_OUTBOX_BYTES="4096")
    tcp_reader, web_reader = server.tcp(nick="tcpreader"), server.web("webreader")
    publisher = server.tcp(nick="publisher")
    publisher.send_raw(b"".join(f"m{n} burst\r\n".encode() for n in range(400)))
    tcp_got: list[int] = []
    web_got: list[int] = []
    numbers_from_tcp(tcp_reader, "publisher", 399, tcp_got)
    numbers_from_web(web_reader, "publisher", 399, web_got)
    assert tcp_got == web_got == list(range(400))
    assert server.health()["clients"]["total"] == 3


def test_a_reader_that_stops_reading_is_dropped_within_seconds_though_its_backlog_is_small(start_server) -> None:
    # The byte cap is out of reach: what drops it is that it took nothing for seconds.
    server: ServerProcess = start_server(CHAT_RATE="0", CHAT_OUTBOX_BYTES="1000000000")
    web_reader = server.web("webreader")
    stalled = TcpUser(server.tcp_port, nick="stalled", rcvbuf=4096)
    publisher = server.tcp(nick="publisher")
    started = time.monotonic()
    # More than the kernel buffers on its way (Linux autotunes them up to 4 MiB) can hold.
    publisher.send_raw(b"".join(f"m{n} {PADDING}\r\n".encode() for n in range(3000)))
    web_got: list[int] = []
    numbers_from_web(web_reader, "publisher", 2999, web_got)
    assert web_got == list(range(3000))
    leave = web_reader.expect(type="leave", nick="stalled", timeout=10)
    assert leave["text"] == "too slow"
    assert 2 < time.monotonic() - started < 10  # not at once (no cap was reached), and well within 10 s
    assert cut_by_peer(stalled.sock, CLOSE_TIMEOUT + 5)

"""Hostile clients cost only themselves: each attack runs against the real server, flat out, while
an honest pair (one telnet, one web user) chats; the attacker is cut or bounded, the pair never
notices. Bounds are generous: these tests show behaviour, never speed.

The attackers are the benchmark's (``app.bench.attacks``), run in a thread for a few seconds, so
the tests and the closing figures come from the same hostile code.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterator
from itertools import count

import pytest
from raw import RawWebSocket, client_frame, cut_by_peer, rss_kib
from support import ServerProcess

from app.bench.attacks import (
    Outcome,
    Target,
    bad_ws_frames,
    blank_lines,
    empty_continuations,
    empty_ws_frames,
    endless_line,
    erasing_nothing,
    long_lines,
    ping_flood,
    telnet_iac,
    telnet_nop,
    telnet_subnegotiation,
    tls_hello,
)
from app.domain.goodbye import Goodbye

serial = count()
CHAT_WINDOW = 20.0
"""Seconds within which every honest message must arrive (generous: the machine is shared)."""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with default limits for the module; every test brings its own users."""
    server = ServerProcess(tmp_path_factory.mktemp("attacks"), {"CHAT_CHURN_CALM": "100000"}).start()
    yield server
    server.stop()


def while_attacked(server: ServerProcess, attack: Callable[[Target], Outcome], seconds: float = 3.0) -> Outcome:
    """Run ``attack`` in a thread while an honest pair exchanges messages; every one must arrive."""
    n = next(serial)
    tcp, web = server.tcp(nick=f"honesttcp{n}"), server.web(f"honestweb{n}")
    target = Target("127.0.0.1", server.port, server.tcp_port, time.monotonic() + seconds, 0)
    outcomes: list[Outcome] = []
    attacker = threading.Thread(target=lambda: outcomes.append(attack(target)))
    attacker.start()
    for round_ in range(4):
        web.say(f"from the web {round_}")
        assert tcp.expect(lambda line: line.startswith(f"[honestweb{n}]"), timeout=CHAT_WINDOW).endswith(
            f"from the web {round_}"
        )
        tcp.send(f"from telnet {round_}")
        assert web.expect(type="message", nick=f"honesttcp{n}", timeout=CHAT_WINDOW)["text"] == f"from telnet {round_}"
        time.sleep(seconds / 5)
    attacker.join(seconds + 15)
    assert outcomes, "the attacker did not finish"
    assert "Traceback" not in server.output()
    return outcomes[0]


def test_bad_websocket_frames_flat_out_are_cut_with_a_bad_input_goodbye(server: ServerProcess) -> None:
    outcome = while_attacked(server, bad_ws_frames)
    assert outcome.cut_after_s is not None and outcome.cut_after_s < 2.5


def test_a_stream_of_bad_frames_gets_a_few_answers_then_a_typed_goodbye(server: ServerProcess) -> None:
    raw = RawWebSocket(server.port, "/ws?nick=garbler")
    raw.sock.sendall(client_frame(b"{not json") * 200)
    errors, close = 0, None
    try:
        while close is None:
            opcode, payload = raw.recv_frame()
            if opcode == 0x8:
                close = int.from_bytes(payload[:2]), payload[2:].decode()
            else:
                errors += payload.count(b'"code":"bad_frame"')
    except (EOFError, ConnectionError):
        pass
    assert close == (Goodbye.BAD_INPUT.code, Goodbye.BAD_INPUT.reason)
    assert 1 <= errors <= 10  # the first few are answered, never one answer per bad frame


def test_a_telnet_negotiation_flood_is_cut(server: ServerProcess) -> None:
    outcome = while_attacked(server, telnet_iac)
    assert outcome.cut_after_s is not None and outcome.cut_after_s < 2.5


@pytest.mark.parametrize(
    "attack",
    [telnet_nop, blank_lines, empty_ws_frames, erasing_nothing, endless_line],
    ids=["nop", "blank", "empty-ws", "erasing-nothing", "endless-line"],
)
def test_a_flood_of_noise_is_cut(server: ServerProcess, attack: Callable[[Target], Outcome]) -> None:
    outcome = while_attacked(server, attack)  # input that carries nothing costs what a line costs
    assert outcome.cut_after_s is not None and outcome.cut_after_s < 2.5


def test_an_honest_users_blank_lines_and_keepalives_cost_nothing(server: ServerProcess) -> None:
    n = next(serial)
    watcher = server.web(f"honestwatch{n}")
    user = server.tcp(nick=f"honest{n}")
    for round_ in range(4):
        user.send_raw(b"\r\n\xff\xf1")  # Enter on an empty line, and a client's keepalive (IAC NOP)
        user.send(f"still here {round_}")
        assert watcher.expect(type="message", nick=f"honest{n}")["text"] == f"still here {round_}"
        time.sleep(1.6)  # three lines' worth every 1.6 s: the budget (2 a second) refills, at any speed
    assert not [line for line in user.lines if line.startswith("!")]


def test_an_unterminated_subnegotiation_is_never_posted(server: ServerProcess) -> None:
    n = next(serial)
    observer = server.web(f"subwatch{n}")
    sender = server.tcp(nick=f"subneg{n}")
    sender.send_raw(b"\xff\xfa\x18" + b"A" * 100_000)  # IAC SB TERMINAL-TYPE, and never IAC SE
    sender.send_raw(b"\r\nafter it\r\n")
    assert observer.expect(type="message", nick=f"subneg{n}")["text"] == "after it"
    assert not [e for e in observer.events if "AAA" in str(e.get("text", ""))]
    outcome = while_attacked(server, telnet_subnegotiation)  # and flat out, with line ends in it
    assert outcome.cut_after_s is not None and outcome.cut_after_s < 2.5


def test_over_long_lines_flat_out_are_cut_after_a_few_answers(server: ServerProcess) -> None:
    outcome = while_attacked(server, long_lines)
    assert outcome.cut_after_s is not None and outcome.cut_after_s < 2.5
    assert 1 <= outcome.detail["error_replies"] <= 10


def test_an_over_long_line_flooder_reads_why_it_was_cut(server: ServerProcess) -> None:
    flooder = server.tcp(nick="longwinded")
    flooder.send_raw((b"x" * 9000 + b"\r\n") * 100)
    assert flooder.expect(lambda line: line.startswith("! Disconnected")) == f"! {Goodbye.BAD_INPUT.text}"
    assert flooder.closed()


def test_empty_continuation_frames_trip_the_message_limit(server: ServerProcess) -> None:
    raw = RawWebSocket(server.port, "/ws?nick=fragmenter")
    raw.send_frame(b"", fin=False)
    raw.sock.sendall(client_frame(b"", opcode=0x0, fin=False) * 5000)  # no bytes, many frames
    assert raw.close_frame() == (1009, "message in over 1024 frames")
    outcome = while_attacked(server, empty_continuations)  # 8 million of them, flat out
    assert outcome.cut_after_s is not None and outcome.cut_after_s < 2.5
    assert outcome.sent_bytes < 8_000_000 * 6


def test_a_ping_flood_from_a_client_that_never_reads_is_cut(server: ServerProcess) -> None:
    outcome = while_attacked(server, ping_flood)
    assert outcome.cut_after_s is not None and outcome.cut_after_s < 2.5


def test_with_flood_control_off_unread_pongs_are_bounded_by_the_outbox(start_server) -> None:
    server: ServerProcess = start_server(CHAT_RATE="0", CHAT_OUTBOX_BYTES="65536")
    pinger = RawWebSocket(server.port, "/ws?nick=pinger", rcvbuf=4096)
    before = rss_kib(server.pid)
    ping = client_frame(b"p" * 125, opcode=0x9)
    pinger.sock.settimeout(0.2)
    deadline = time.monotonic() + 15
    sent = 0
    while time.monotonic() < deadline and not cut_by_peer(pinger.sock, 0):
        try:
            sent += pinger.sock.send(ping * 100)
        except TimeoutError:
            continue  # the server stopped reading for now: its buffers are full, as ours are
        except OSError:
            break
    assert cut_by_peer(pinger.sock, 10), f"still connected after {sent} bytes of pings"
    assert rss_kib(server.pid) - before < 32 * 1024
    watcher = server.web("watcher")
    watcher.say("still here")
    assert watcher.expect(type="message")["text"] == "still here"


def test_a_tls_client_on_the_plain_port_gets_one_clear_line_and_nothing_is_relayed(server: ServerProcess) -> None:
    n = next(serial)
    observer = server.tcp(nick=f"observer{n}")
    outcome = while_attacked(server, tls_hello)
    assert outcome.cut_after_s is not None
    assert outcome.detail["reply"] == [
        "! This port speaks plain text lines (telnet, netcat), not TLS: connect with telnet or nc, without TLS",
    ]
    observer.silent(0.3)
    relayed = [line for line in observer.lines if line.startswith("[guest")]
    assert not relayed, relayed
    # Refused before its welcome, it was never a person in the room: nobody saw it come or go.
    announced = [line for line in observer.lines if "TLS" in line or re.match(r"\* guest\d+ left", line)]
    assert not announced, announced


# -- forged identities and lines -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claimed", "why"),
    [
        pytest.param("аlicе{n}", "cannot mix look-alike scripts (Cyrillic, Latin)", id="cyrillic-a-e"),
        pytest.param("aIice{n}", "'aIice{n}' is too like 'alice{n}'", id="capital-i-for-l"),
        pytest.param("a1ice{n}", "'a1ice{n}' is too like 'alice{n}'", id="digit-one-for-l"),
        pytest.param("ALICE{n}", "'ALICE{n}' is already taken", id="case"),
        pytest.param("alice{n}\u3164", "invisible characters (U+3164 HANGUL FILLER)", id="hangul-filler-suffix"),
        pytest.param("\u3164", "invisible characters (U+3164 HANGUL FILLER)", id="invisible-nick"),
    ],
)
def test_look_alike_nicks_are_refused_with_the_reason(server: ServerProcess, claimed: str, why: str) -> None:
    n = next(serial)
    claimed, why = claimed.format(n=n), why.format(n=n)
    alice = server.web(f"alice{n}")
    forger = server.tcp()
    forger.send(f"/nick {claimed}")
    assert forger.expect(lambda line: line.startswith("! Nick refused")).endswith(why)
    web_forger = server.web(claimed)
    assert web_forger.welcome["nick"].startswith("guest")
    assert why in web_forger.expect(type="error", code="nick_refused")["text"]
    alice.say("still alice")
    assert forger.expect(lambda line: line.startswith("[alice")) == f"[alice{n}] still alice"


def test_a_whole_script_look_alike_is_refused_as_too_like_the_nick_it_copies(server: ServerProcess) -> None:
    n = next(serial)
    holder = server.tcp(nick=f"scope{n}")
    forger = server.tcp()
    forger.send(f"/nick ѕсоре{n}")  # Cyrillic dze, es, o, er, ie: no Latin letter at all
    assert forger.expect(lambda line: line.startswith("! Nick refused")) == (
        f"! Nick refused: 'ѕсоре{n}' is too like 'scope{n}'"
    )
    holder.close()


def test_me_cannot_forge_a_nick_change(server: ServerProcess) -> None:
    n = next(serial)
    observer = server.tcp(nick=f"watcher{n}")
    forger = server.tcp(nick=f"mallory{n}")
    forger.send(f"/me is now known as alice{n}")
    forged = observer.expect(lambda line: line.endswith(f"is now known as alice{n}"))
    forger.send(f"/nick bob{n}")
    real = observer.expect(lambda line: line.endswith(f"is now known as bob{n}"))
    assert forged == f"* [mallory{n}] is now known as alice{n}"
    assert real == f"* mallory{n} is now known as bob{n}"


def test_line_separators_cannot_forge_a_history_line(server: ServerProcess) -> None:
    n = next(serial)
    sender = server.web(f"sender{n}")
    reader = server.tcp(nick=f"reader{n}")
    for breaker in ("\u2028", "\u2029", "\u0085", "\x0b", "\x0c", "\r", "\n"):
        sender.say(f"hello{breaker}12:34 [bob] send the code")
        time.sleep(0.5)  # within the flood limit
    sender.say(f"done{n}")
    reader.expect(f"[sender{n}] done{n}")
    live = [line for line in reader.lines if line.startswith(f"[sender{n}]")][:-1]
    assert len(live) == 7 and all(line.endswith("12:34 [bob] send the code") for line in live)
    reader.send("/history 8")
    reader.expect(lambda line: line.startswith("* Last 8 events"))
    shown = [reader.read_line() for _ in range(8)]
    assert all(line.startswith("  ") and f"[sender{n}] " in line for line in shown), shown
    assert not [line for line in reader.lines if line.lstrip().startswith("12:34 [bob]")]

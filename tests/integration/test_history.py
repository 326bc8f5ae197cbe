"""History and lossless reconnect against the real server: restarts, resume, gaps, privacy."""

from __future__ import annotations

import signal
import threading
import time

import pytest
from support import ServerProcess, WebUser

FAST = {"CHAT_RATE": "0", "CHAT_WEB_HISTORY": "100", "CHAT_TCP_REPLAY": "20"}


def messages(events: list[dict]) -> list[str]:
    return [e["text"] for e in events if e["type"] == "message"]


def wait_persisted(server: ServerProcess, timeout: float = 5.0) -> None:
    """Wait until /healthz says every event is on disk (what "acknowledged" means for kill -9)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = server.health()["history"]
        if history["persisted_id"] == history["last_id"]:
            return
        time.sleep(0.02)
    raise TimeoutError("history was not persisted")


def say_five(server: ServerProcess) -> None:
    web = server.web("writer")
    for i in range(5):
        web.say(f"before restart {i}")
        web.expect(type="message", text=f"before restart {i}")
    web.close()


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill-9"])
def test_history_survives_a_restart(start_server, stop: signal.Signals) -> None:
    server = start_server(**FAST)
    say_five(server)
    if stop is signal.SIGKILL:
        wait_persisted(server)
    server.signal(stop)
    server.wait(15)
    server.start()

    web = server.web("reader")
    replayed = web.silent(0.5)
    assert messages(replayed) == [f"before restart {i}" for i in range(5)]
    assert all(e.get("history") for e in replayed if e["type"] == "message")
    live = [e for e in replayed if e["type"] == "system" and e.get("code") == "live"]
    assert [e["text"] for e in live] == ["— live —"]  # no "UTC" note: a page shows times in its own zone

    tcp = server.tcp()
    lines = tcp.silent(0.5)
    said = [line for line in lines if "[writer] before restart" in line]
    assert [line.split("] ", 1)[1] for line in said] == [f"before restart {i}" for i in range(5)]
    assert all(line[:5].replace(":", "").isdigit() for line in said), "replayed lines carry their time"
    assert "* — live — (times above are UTC)" in lines


def test_reconnect_with_since_gets_exactly_what_was_missed(start_server) -> None:
    server = start_server(**FAST)
    tcp = server.tcp(nick="talker")
    web = server.web("phone")
    tcp.send("seen before the blink")
    last_seen = web.expect(type="message", text="seen before the blink")["id"]
    web.close()
    tcp.expect("* phone left")
    for i in range(10):
        tcp.send(f"while away {i}")
    tcp.send("/who")  # a round trip: every line above has been handled
    tcp.expect(lambda line: line.startswith("* 1 here"))

    back = server.web("phone", query=f"since={last_seen}")
    events = back.silent(0.5)
    assert messages(events) == [f"while away {i}" for i in range(10)]
    ids = [e["id"] for e in events if "id" in e]
    assert ids == sorted(set(ids)), "in order, without duplicates"
    assert all(i > last_seen for i in ids)
    assert not any(e["type"] == "gap" for e in events)


def test_messages_during_a_resume_arrive_exactly_once(start_server) -> None:
    server = start_server(**FAST, CHAT_HISTORY="5000", CHAT_OUTBOX_BYTES="100000000")
    publisher = server.tcp(nick="busy")
    watcher = server.web("watcher")
    publisher.send("start")
    since = watcher.expect(type="message", text="start")["id"]
    watcher.close()

    stop = threading.Event()

    def publish() -> None:
        n = 0
        while not stop.is_set() and n < 3000:
            publisher.send(f"live {n}")
            n += 1

    sender = threading.Thread(target=publish)
    sender.start()
    try:
        time.sleep(0.05)  # let the publisher get going so the resume overlaps live traffic
        resumed = WebUser(f"{server.ws_url}?nick=watcher&since={since}")
        time.sleep(0.1)
    finally:
        stop.set()
        sender.join()
    publisher.send("/who")
    publisher.expect(lambda line: line.startswith("* 2 here"))
    publisher.send("done")
    resumed.expect(type="message", text="done")
    received = [e for e in resumed.events if e["type"] == "message"]
    texts = [e["text"] for e in received]
    numbers = [int(t.split()[1]) for t in texts if t.startswith("live ")]
    assert numbers == list(range(len(numbers))), "every live message once, in order"
    assert len(numbers) > 0
    assert not any(e["type"] == "gap" for e in resumed.events)
    replayed = [e for e in received if e.get("history")]
    assert replayed and len(replayed) < len(received), "the resume overlapped live traffic"
    ids = [e["id"] for e in resumed.events if "id" in e]
    assert ids == sorted(set(ids))


def test_a_since_older_than_history_gets_a_gap_frame(start_server) -> None:
    server = start_server(**FAST, CHAT_HISTORY="10")
    tcp = server.tcp(nick="chatty")
    watcher = server.web("watcher")
    for i in range(30):
        tcp.send(f"line {i}")
    watcher.expect(type="message", text="line 29")  # shown, so stored: in history
    web = server.web("late", query="since=1")
    events = web.silent(0.5)
    gap = next(e for e in events if e["type"] == "gap")
    kept = [e for e in events if e.get("history")]
    assert messages(kept) == [f"line {i}" for i in range(20, 30)], "the last CHAT_HISTORY messages"
    assert gap["missed"] == 20, "exactly the lines that fell out"
    assert gap["text"] == "20 earlier events are no longer in history"


def test_private_messages_are_not_in_history(start_server) -> None:
    server = start_server(**FAST)
    alice = server.web("alice")
    bob = server.tcp(nick="bob")
    alice.say("/msg bob a secret")
    bob.expect("[alice → you] a secret")
    alice.say("a public line")
    bob.expect("[alice] a public line")

    newcomer = server.web("newcomer")
    assert all("secret" not in str(e) for e in newcomer.silent(0.5))
    bob.send("/history 50")
    shown = bob.expect(lambda line: line.startswith("* Last "))
    rest = bob.silent(0.3)
    assert any("a public line" in line for line in rest)
    assert not any("secret" in line for line in [shown, *rest])


def test_history_command_is_bounded_and_private(start_server) -> None:
    server = start_server(**FAST, CHAT_HISTORY="20")
    web = server.web("asker")
    other = server.tcp(nick="other")
    for i in range(25):
        other.send(f"old {i}")
    web.expect(type="message", text="old 24")
    web.say("/history 1000")
    reply = web.expect(lambda e: e["type"] == "system" and e["text"].startswith("Last "))
    shown = reply["text"].splitlines()
    assert shown[0] == "Last 20 events (UTC):"
    assert shown[-1].endswith("[other] old 24")
    assert other.silent(0.3) == [], "the answer goes to the requester only"
    web.say("/history nonsense")
    assert web.expect(type="error")["code"] == "usage"


def test_odd_numbers_in_since_and_history_are_refused_cleanly(server: ServerProcess) -> None:
    web = server.web("odd", query="since=%C2%B2")  # a superscript two: a digit, but not a number
    web.say("/history ²")
    assert web.expect(type="error")["code"] == "usage"
    web.say("/history " + "9" * 5000)
    assert web.expect(type="error")["code"] == "usage"
    web.say("still here")
    assert web.expect(type="message", text="still here")["self"] is True
    assert server.health()["clients"]["web"] == 1
    assert "Traceback" not in server.output()

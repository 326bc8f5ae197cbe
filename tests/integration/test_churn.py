"""A crowd arriving at once: a few join notices, then one summary, and /who stays exact."""

from __future__ import annotations

from collections.abc import Callable

from support import ServerProcess


def test_a_join_storm_is_summarised_and_presence_stays_exact(start_server: Callable[..., ServerProcess]) -> None:
    # The crowd joins one by one, each once welcomed: welcomed on arrival, it is a storm.
    server = start_server(CHAT_QUIET_GRACE="0")
    watcher = server.web("watcher")
    terminal = server.tcp(nick="terminal")
    crowd = [server.tcp() for _ in range(30)]
    crowd[0].close()

    summary = watcher.expect(type="presence")
    singles = {e["nick"] for e in watcher.events if e["type"] == "join"}
    folded = {u["nick"] for u in summary["users"]}
    arrived = singles | folded
    assert {c.nick for c in crowd} <= arrived, "every arrival is announced, alone or in the summary"
    assert not singles & folded, "and only once"
    assert len(singles) <= 12, "beyond the first few, arrivals are folded into the summary"
    assert summary["total"] == 31
    assert summary["text"].endswith("— 31 here now")
    assert terminal.expect(lambda line: line.endswith("— 31 here now")).startswith("* ")

    terminal.send("/who")
    assert terminal.expect(lambda line: line.startswith("* ")).startswith("* 31 here: ")

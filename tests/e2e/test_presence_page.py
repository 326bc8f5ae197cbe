"""The page's people list through a storm bigger than a summary can name: it starts again from
the sample the summary carries, keeps the reader, drops those who left, and shows the total."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chatpage import ChatPage
from playwright.sync_api import expect
from raw import RawWebSocket
from support import ServerProcess, wait_until

pytestmark = pytest.mark.browser

ARRIVING = 130
LEAVING = 10


def test_the_people_list_starts_again_from_the_sample_of_a_storm_it_could_not_name(
    start_server: Callable[..., ServerProcess], open_chat: Callable[..., ChatPage]
) -> None:
    # One long window, so the whole storm folds into one summary; alice's line sends it out.
    server = start_server(CHAT_RATE="0", CHAT_PRESENCE_WINDOW="600", CHAT_PRESENCE_CROWD="1")
    alice = open_chat(server, "alice")
    crowd = [RawWebSocket(server.port, "/ws?nick=crowd0")]
    expect(alice.user("crowd0")).to_have_count(1)  # a first arrival, alone, is announced by name
    crowd += [RawWebSocket(server.port, f"/ws?nick=crowd{i}") for i in range(1, ARRIVING)]
    for client in crowd[:LEAVING]:
        client.sock.close()
    present = 1 + ARRIVING - LEAVING
    wait_until(
        lambda: server.health()["clients"]["total"] == present, 10, lambda: f"health: {server.health()['clients']}"
    )

    alice.say("hello everyone")
    expect(alice.message("alice", "hello everyone")).to_have_count(1)
    expect(alice.lines(f"{ARRIVING - LEAVING} joined, {LEAVING} left — {present} here now")).to_have_count(1)
    expect(alice.page.locator("#users-count")).to_have_text(str(present))
    expect(alice.page.locator("#user-list > li")).to_have_count(100)
    expect(alice.user("alice")).to_have_count(1)
    expect(alice.user("crowd0")).to_have_count(0)  # shown arriving, then gone in the storm
    expect(alice.user(f"crowd{LEAVING}")).to_have_count(1)
    for client in crowd[LEAVING:]:
        client.sock.close()

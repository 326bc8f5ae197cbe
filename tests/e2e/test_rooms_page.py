"""Rooms on the page: the list with unread counts and mentions, switching without a reload, deep
links, the topic in the header, leaving, and a reconnect that resumes every room."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import pytest
from chatpage import PHONE, ChatPage
from playwright.sync_api import expect
from socketcontrol import SocketControl
from support import ServerProcess, TcpUser

pytestmark = pytest.mark.browser

OpenChat = Callable[..., ChatPage]
WS_URL = re.compile(r"/ws(\?.*)?$")


def room_item(chat: ChatPage, name: str):  # type: ignore[no-untyped-def]
    return chat.page.locator(f'#room-list > li[data-room="{name}"]')


def shown_message(chat: ChatPage, text: str):  # type: ignore[no-untyped-def]
    """A message with ``text`` in the log on screen (the room shown)."""
    return chat.page.locator(".log-scroll:not([hidden]) li.item-message", has_text=text)


def join_room(chat: ChatPage, name: str) -> None:
    chat.page.locator("#room-input").fill(name)
    chat.page.locator("#room-input").press("Enter")
    expect(room_item(chat, name)).to_have_class(re.compile(r"\bcurrent\b"))


def tcp_in(server: ServerProcess, nick: str, room: str) -> TcpUser:
    """A terminal user in ``room`` only."""
    user = server.tcp(nick=nick)
    user.send(f"/join {room}")
    user.expect(lambda line: line.startswith(f"* You are now in {room}"))
    user.send("/part #main")
    user.expect(lambda line: line.endswith(f"* {nick} left #main"))
    return user


def test_switching_rooms_keeps_each_conversation_and_counts_what_is_unread(
    server: ServerProcess, open_chat: OpenChat
) -> None:
    bob = server.tcp(nick="bob")
    chat = open_chat(server, "alice")
    join_room(chat, "#dev")
    expect(chat.page.locator("#topic")).to_have_text("#dev")
    assert chat.page.url.endswith("/#dev"), "the address names the room shown"
    dave = tcp_in(server, "dave", "#dev")
    dave.send("in dev")
    expect(shown_message(chat, "in dev")).to_have_count(1)

    bob.send("lunch, anyone?")
    bob.send("alice: are you there?")
    main = room_item(chat, "#main")
    expect(main.locator(".room-unread")).to_have_text("2")
    expect(main.locator(".room-mention")).to_be_visible()
    expect(shown_message(chat, "lunch")).to_have_count(0)

    main.locator(".room-button").click()
    expect(shown_message(chat, "lunch, anyone?")).to_have_count(1)
    expect(main.locator(".room-unread")).to_have_count(0)
    expect(main.locator(".room-mention")).to_have_count(0)
    expect(chat.page.locator("#user-list > li[data-nick='bob']")).to_have_count(1)
    expect(chat.page.locator("#user-list > li[data-nick='dave']")).to_have_count(0)

    chat.say("back in main")
    assert bob.expect(lambda line: "back in main" in line) == "[alice] back in main"
    assert not [line for line in dave.silent(0.3) if "back in main" in line], "dave is in #dev only"

    room_item(chat, "#dev").locator(".room-button").click()
    expect(shown_message(chat, "in dev")).to_have_count(1)
    chat.say("and in dev")
    assert dave.expect(lambda line: "and in dev" in line) == "[alice] and in dev"


def test_a_deep_link_opens_its_room_and_the_topic_shows_in_the_header(
    start_server: Callable[..., ServerProcess], open_chat: OpenChat
) -> None:
    server = start_server(CHAT_WEB_HISTORY="50")  # a newcomer is shown the room's recent history
    dave = tcp_in(server, "dave", "#dev")
    dave.send("/topic ship it")
    dave.send("before you came")
    chat = open_chat(server, "alice", path="/r/dev")
    expect(room_item(chat, "#dev")).to_have_class(re.compile(r"\bcurrent\b"))
    expect(chat.page.locator("#topic")).to_have_text("#dev — ship it")
    expect(shown_message(chat, "before you came")).to_have_count(1)
    expect(room_item(chat, "#main")).to_have_count(0)  # only the room the link asked for

    other = open_chat(server, "carol", path="/#ops")
    expect(room_item(other, "#ops")).to_have_class(re.compile(r"\bcurrent\b"))
    other.page.evaluate("location.hash = '#dev'")  # a link followed on the open page
    expect(room_item(other, "#dev")).to_have_class(re.compile(r"\bcurrent\b"))
    expect(shown_message(other, "before you came")).to_have_count(1)


def test_leaving_a_room_removes_it_and_shows_another(server: ServerProcess, open_chat: OpenChat) -> None:
    dave = tcp_in(server, "dave", "#dev")
    chat = open_chat(server, "alice")
    join_room(chat, "#dev")
    room_item(chat, "#dev").get_by_role("button", name="Leave #dev").click()
    expect(room_item(chat, "#dev")).to_have_count(0)
    expect(room_item(chat, "#main")).to_have_class(re.compile(r"\bcurrent\b"))
    dave.expect("* alice left #dev")
    dave.send("gone?")
    chat.say("still here")
    expect(shown_message(chat, "still here")).to_have_count(1)
    expect(chat.page.locator("li.item-message", has_text="gone?")).to_have_count(0)


@pytest.fixture(params=["one process", "redis"])
def numbering(request: pytest.FixtureRequest, start_server: Callable[..., ServerProcess]) -> ServerProcess:
    """A server numbering events once for all rooms, then one sharing rooms through Redis, where
    each room numbers its own: #dev's ids are also #main's, and the page must tell them apart."""
    if request.param == "redis":
        return start_server(REDIS_URL=request.getfixturevalue("redis_server").url)
    return start_server()


def test_a_reconnect_resumes_every_room_with_nothing_lost_or_doubled(
    numbering: ServerProcess, open_chat: OpenChat
) -> None:
    server = numbering
    control = SocketControl()
    chat = open_chat(server, "alice", on_page=lambda page: page.route_web_socket(WS_URL, control.route))
    bob, dave = server.tcp(nick="bob"), tcp_in(server, "dave", "#dev")
    join_room(chat, "#dev")
    dave.send("dev one")
    bob.send("main one")
    expect(shown_message(chat, "dev one")).to_have_count(1)
    expect(room_item(chat, "#main").locator(".room-unread")).to_have_text("1")

    control.refuse = True
    control.cut()
    expect(chat.status).not_to_have_attribute("data-state", "live")
    dave.send("dev two")
    bob.send("main two")
    dave.send("/who")
    dave.expect(lambda line: " here: " in line)
    control.refuse = False
    chat.page.locator("#retry").click()
    chat.expect_live()

    query = parse_qs(urlsplit(control.urls[-1]).query)
    assert query["rooms"] == ["dev,main"], "the room shown first, then the others"
    assert {entry.split(":")[0] for entry in query["since"][0].split(",")} == {"dev", "main"}
    expect(shown_message(chat, "dev two")).to_have_count(1)
    expect(shown_message(chat, "dev one")).to_have_count(1)
    room_item(chat, "#main").locator(".room-button").click()
    for text in ("main one", "main two"):
        expect(shown_message(chat, text)).to_have_count(1)
    expect(chat.page.locator("li.item-message", has_text="dev two")).to_have_count(1)
    expect(chat.page.locator("li.item-users")).to_have_count(0)  # the page asked who is where: not shown
    expect(chat.page.locator("#user-list > li[data-nick='bob']")).to_have_count(1)


def test_on_a_phone_the_room_list_is_in_the_drawer(server: ServerProcess, open_chat: OpenChat) -> None:
    dave = tcp_in(server, "dave", "#dev")
    chat = open_chat(server, "alice", viewport=PHONE, is_mobile=True, has_touch=True)
    expect(chat.page.locator("#room-list")).to_be_hidden()
    chat.page.locator("#users-toggle").click()
    expect(chat.page.locator("#room-list")).to_be_visible()
    chat.page.locator("#room-input").fill("dev")
    chat.page.locator("#room-input").press("Enter")
    expect(chat.page.locator("#users")).to_be_hidden()  # switching closes the drawer
    expect(chat.page.locator("#topic")).to_have_text("#dev")
    dave.send("hi phone")
    expect(shown_message(chat, "hi phone")).to_have_count(1)


def test_screenshot_of_the_page_with_rooms(server: ServerProcess, open_chat: OpenChat) -> None:
    bob = server.tcp(nick="bob")
    dave, erin = tcp_in(server, "dave", "#dev"), tcp_in(server, "erin", "#dev")
    dave.send("/topic Release 2.0 on Friday — tests first")
    chat = open_chat(server, "alice")
    join_room(chat, "#dev")
    tcp_in(server, "frank", "#ops").send("disk on db-2 at 81%")
    chat.say("/join #ops")
    expect(room_item(chat, "#ops")).to_have_class(re.compile(r"\bcurrent\b"))
    room_item(chat, "#dev").locator(".room-button").click()
    dave.send("the migration passed on staging")
    erin.send("great, I'll tag the release candidate")
    chat.say("thanks both — I'll write the notes")
    bob.send("alice: lunch at 12:30?")
    expect(room_item(chat, "#main").locator(".room-mention")).to_be_visible()
    expect(shown_message(chat, "write the notes")).to_have_count(1)
    chat.screenshot("rooms")  # docs/screenshot-rooms.png is this picture

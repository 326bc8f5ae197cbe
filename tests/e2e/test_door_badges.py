"""The page shows which door everyone came in by: web, telnet, TLS and SSH, one room."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from chatpage import ChatPage
from playwright.sync_api import expect
from sshuser import SshTerminal, make_key
from support import ServerProcess, free_port
from tlsuser import Certificates, OpenSslUser

pytestmark = pytest.mark.browser


def test_every_door_has_its_badge(
    start_server: Callable[..., ServerProcess], open_chat: Callable[..., ChatPage], tmp_path: Path
) -> None:
    certs = Certificates(tmp_path)
    server = start_server(
        CHAT_TLS_PORT=str(free_port()),
        CHAT_SSH_PORT=str(free_port()),
        CHAT_SSH_HOST_KEY=str(tmp_path / "host_key"),
        **certs.env,
    )
    page = open_chat(server, "wendy")
    telnet = server.tcp(nick="tina")
    tls = OpenSslUser(int(server.env["CHAT_TLS_PORT"]), certs.ca_path)
    ssh = SshTerminal(int(server.env["CHAT_SSH_PORT"]), "sam", tmp_path / "known_hosts", make_key(tmp_path))
    try:
        tls.send("/nick tess")
        tls.expect(lambda line: line.endswith("is now known as tess"))
        for nick, door in (("wendy", "web"), ("tina", "telnet"), ("tess", "tls"), ("sam", "ssh")):
            page.expect_user(nick, door)
        expect(page.page.locator("#log .badge-ssh", has_text="ssh")).to_have_count(1)  # "sam joined ssh"
        ssh.say("hello from a terminal")
        expect(page.message("sam", "hello from a terminal")).to_have_count(1)
        telnet.expect("[sam] hello from a terminal")
    finally:
        tls.close()
        ssh.close()

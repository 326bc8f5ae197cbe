"""Keys as identities: over SSH, /register with no password protects the nick for the client's key;
the key proves it on every login, and its owner can add a password or take a token to prove it
from telnet or the web. A password typed over SSH is not shown."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sshuser import SshTerminal, fingerprint, make_key
from support import ServerProcess, free_port

Start = Callable[..., ServerProcess]
SECRET = "the other way in"


@pytest.fixture
def ssh_server(start_server: Start, tmp_path: Path) -> ServerProcess:
    return start_server(CHAT_SSH_PORT=str(free_port()), CHAT_SSH_HOST_KEY=str(tmp_path / "keys" / "host_key"))


@pytest.fixture
def terminals() -> Iterator[list[SshTerminal]]:
    opened: list[SshTerminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def test_a_nick_registered_to_a_key_is_proved_by_it_and_by_a_token_elsewhere(
    ssh_server: ServerProcess, tmp_path: Path, terminals: list[SshTerminal]
) -> None:
    port = int(ssh_server.env["CHAT_SSH_PORT"])
    key, other_key = make_key(tmp_path), make_key(tmp_path, "id_other")
    alice = SshTerminal(port, "alice", tmp_path / "known_hosts", key)
    terminals.append(alice)
    alice.say("/register")
    alice.wait_for("Your token for alice:")
    shown = "".join(alice.screen())  # the rows joined again where the terminal wrapped them
    assert f"Your key {fingerprint(key)} proves it" in shown
    token = shown.split("Your token for alice: ", 1)[1].split(" ")[0]
    alice.close()

    impostor = SshTerminal(port, "alice", tmp_path / "known_hosts", other_key)  # another key: a guest
    terminals.append(impostor)
    impostor.wait_for("'alice' is a registered nick")
    impostor.close()

    again = SshTerminal(port, "alice", tmp_path / "known_hosts", key)  # the key proves it
    terminals.append(again)
    assert "* You are alice" in again.text()
    again.close()

    telnet = ssh_server.tcp()
    telnet.send(f"/identify alice {token}")
    telnet.expect("* You are identified as alice")
    telnet.expect(lambda line: line.endswith("is now known as alice"))


def test_the_owner_adds_a_password_over_ssh_without_it_showing(
    ssh_server: ServerProcess, tmp_path: Path, terminals: list[SshTerminal]
) -> None:
    port = int(ssh_server.env["CHAT_SSH_PORT"])
    key = make_key(tmp_path)
    bob = SshTerminal(port, "bob", tmp_path / "known_hosts", key)
    terminals.append(bob)
    bob.say("/register")
    bob.wait_for("Your key")
    bob.say("/register " + SECRET)  # the owner adds a password
    bob.wait_for("Your password proves it")
    bob.say("/oper")  # a password asked for on its own line is not shown as it is typed
    bob.wait_for("Type the password on the next line")
    bob.type("hidden words")
    assert "hidden words" not in bob.text()
    bob.press("Enter")
    bob.wait_for("No operator password is set")
    bob.close()
    web = ssh_server.web()
    web.say(f"/identify bob {SECRET}")
    got = web.expect(lambda e: e["type"] in ("identified", "error"))
    assert got.get("nick") == "bob", got

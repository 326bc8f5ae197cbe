"""The SSH door with the real OpenSSH client in a real terminal (tmux): the same room as telnet
and the web, a terminal that edits lines, keys as identities, and nothing but the chat."""

from __future__ import annotations

import asyncio
import os
import pty
import re
import select
import signal
import socket
import stat
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sshuser import SshTerminal, fingerprint, make_key, ssh_argv
from support import ServerProcess, TcpUser, WebUser, free_port

from app.gateways.ssh_library import asyncssh  # without its import-time warnings


@pytest.fixture
def key(tmp_path: Path) -> Path:
    return make_key(tmp_path)


@pytest.fixture
def known_hosts(tmp_path: Path) -> Path:
    return tmp_path / "known_hosts"


@pytest.fixture
def start_ssh_server(start_server: Callable[..., ServerProcess], tmp_path: Path) -> Callable[..., ServerProcess]:
    """Start a server with the SSH door on a free port, its host key made in the test's directory."""

    def start(**env: str) -> ServerProcess:
        host_key = str(tmp_path / "keys" / "host_key")
        return start_server(CHAT_SSH_PORT=str(free_port()), CHAT_SSH_HOST_KEY=host_key, **env)

    return start


@pytest.fixture
def ssh_server(start_ssh_server: Callable[..., ServerProcess]) -> ServerProcess:
    return start_ssh_server()


@pytest.fixture
def terminals() -> Iterator[list[SshTerminal]]:
    opened: list[SshTerminal] = []
    yield opened
    for terminal in opened:
        terminal.close()


def ssh_port(server: ServerProcess) -> int:
    return int(server.env["CHAT_SSH_PORT"])


def run_ssh(
    server: ServerProcess, user: str, known_hosts: Path, key: Path, typed: str
) -> subprocess.CompletedProcess[str]:
    """``ssh -T`` (no terminal) with ``typed`` as its input, to the end."""
    argv = ssh_argv(ssh_port(server), user, known_hosts, key, "-T")
    return subprocess.run(argv, input=typed, capture_output=True, text=True, timeout=20)


def test_ssh_user_chats_with_telnet_and_web_users(
    ssh_server: ServerProcess, key: Path, known_hosts: Path, terminals: list[SshTerminal]
) -> None:
    telnet = ssh_server.tcp(nick="tina")
    web = ssh_server.web(nick="wendy")
    alice = SshTerminal(ssh_port(ssh_server), "alice", known_hosts, key)
    terminals.append(alice)
    assert "* You are alice — change it with /nick NAME" in alice.text()
    assert web.expect(type="join", nick="alice")["gateway"] == "ssh"
    telnet.expect("* alice joined (ssh)")

    alice.say("hello over ssh")
    assert telnet.expect(lambda line: "hello over ssh" in line) == "[alice] hello over ssh"
    assert web.expect(type="message", text="hello over ssh")["nick"] == "alice"
    telnet.send("hi alice")
    web.say("hi from the web")
    alice.wait_for("[tina] hi alice")
    alice.wait_for("[wendy] hi from the web")
    # What alice typed is shown back the way the room saw it, once.
    assert alice.text().count("hello over ssh") == 1
    assert "[alice] hello over ssh" in alice.text()

    alice.say("/who")
    who = next(row for row in alice.wait_for("3 here:") if "3 here:" in row)
    assert "alice (ssh)" in who and "tina (telnet)" in who and "wendy (web)" in who
    assert ssh_server.health()["clients"] == {"web": 1, "telnet": 1, "ssh": 1, "total": 3}
    assert 'chat_clients{door="ssh"} 1.0' in httpx.get(f"{ssh_server.http_url}/metrics").text


def test_the_key_is_the_identity_and_keyless_clients_get_in_too(
    ssh_server: ServerProcess, key: Path, known_hosts: Path, terminals: list[SshTerminal]
) -> None:
    alice = SshTerminal(ssh_port(ssh_server), "alice", known_hosts, key)
    terminals.append(alice)
    alice.wait_for(f"You logged in with the key {fingerprint(key)}")

    bob = SshTerminal(ssh_port(ssh_server), "bob", known_hosts, None)  # keyboard-interactive, no question
    terminals.append(bob)
    assert "* You are bob" in bob.text()
    assert "logged in with the key" not in bob.text()


def test_the_terminal_edits_lines_and_keeps_the_input_at_the_bottom(
    ssh_server: ServerProcess, key: Path, known_hosts: Path, terminals: list[SshTerminal]
) -> None:
    telnet = ssh_server.tcp(nick="tina")
    alice = SshTerminal(ssh_port(ssh_server), "alice", known_hosts, key)
    terminals.append(alice)

    alice.type("abc")
    alice.press("Left", "Left", "BSpace")
    alice.type("X")
    alice.press("End")
    alice.type("!")
    alice.press("Enter")
    assert telnet.expect(lambda line: line.startswith("[alice]")) == "[alice] Xbc!"

    alice.press("Up")  # history: the line sent last comes back to edit
    alice.press("BSpace")
    alice.type("?")
    alice.press("Enter")
    assert telnet.expect(lambda line: line.startswith("[alice]")) == "[alice] Xbc?"

    alice.type("half typed")
    for n in range(3):
        telnet.send(f"interruption {n}")
        alice.wait_for(f"[tina] interruption {n}")
        rows = [row for row in alice.screen() if row.strip()]
        assert rows[-1] == "half typed", rows  # the message went above; the input stays below
        assert rows[-2] == f"[tina] interruption {n}", rows
    alice.type(" and finished")
    alice.press("Enter")
    assert telnet.expect(lambda line: line.startswith("[alice]")) == "[alice] half typed and finished"


def test_a_narrower_window_is_honoured(
    ssh_server: ServerProcess, key: Path, known_hosts: Path, terminals: list[SshTerminal]
) -> None:
    alice = SshTerminal(ssh_port(ssh_server), "alice", known_hosts, key, width=80)
    terminals.append(alice)
    alice.resize(30, 24)
    time.sleep(0.5)  # the window-change request travels to the server
    alice.type("a" * 40)
    alice.press("C-a")  # to the start of the input: two rows up-and-left, at the new width
    alice.type("Z")
    rows = [row for row in alice.wait_for("Z" + "a" * 29) if row.strip()]  # the echo takes its time under load
    assert rows[-2:] == ["Z" + "a" * 29, "a" * 11], rows


def test_colours_when_the_terminal_has_them_and_none_when_not(
    ssh_server: ServerProcess, key: Path, known_hosts: Path, terminals: list[SshTerminal]
) -> None:
    telnet = ssh_server.tcp(nick="tina")
    colour = SshTerminal(ssh_port(ssh_server), "colour", known_hosts, key, term="xterm-256color")
    mono = SshTerminal(ssh_port(ssh_server), "mono", known_hosts, key, term="vt100")
    terminals += [colour, mono]
    telnet.send("paint me")
    colour.wait_for("[tina] paint me")
    mono.wait_for("[tina] paint me")
    coloured = "\n".join(colour.screen(colours=True))
    assert re.search(r"\[\x1b\[\d+mtina\x1b\[(0|39)?m\] paint me", coloured), coloured
    assert "\x1b[" not in "\n".join(mono.screen(colours=True))


def test_ctrl_c_and_ctrl_d_leave_cleanly(
    ssh_server: ServerProcess, key: Path, known_hosts: Path, terminals: list[SshTerminal]
) -> None:
    telnet = ssh_server.tcp(nick="tina")
    for user, keys in (("cee", "C-c"), ("dee", "C-d")):
        terminal = SshTerminal(ssh_port(ssh_server), user, known_hosts, key)
        terminals.append(terminal)
        telnet.expect(f"* {user} joined (ssh)")
        terminal.type("never sent")
        if keys == "C-d":
            terminal.press("C-u")  # Ctrl-D leaves from an empty line (elsewhere it deletes)
        terminal.press(keys)
        telnet.expect(f"* {user} left")
        assert terminal.exited() == 0
        terminal.wait_for("Goodbye!")
    assert not any("never sent" in line for line in telnet.lines)


def test_only_the_chat_is_served(ssh_server: ServerProcess, key: Path, known_hosts: Path) -> None:
    port = ssh_port(ssh_server)
    run = {"capture_output": True, "text": True, "timeout": 20, "stdin": subprocess.DEVNULL}

    command = subprocess.run([*ssh_argv(port, "eve", known_hosts, key), "cat", "/etc/passwd"], **run)
    assert command.returncode != 0
    assert "exec request failed" in command.stderr
    assert "root:" not in command.stdout

    sftp = subprocess.run([*ssh_argv(port, "eve", known_hosts, key, "-s"), "sftp"], **run)
    assert sftp.returncode != 0
    assert "subsystem request failed" in sftp.stderr

    remote = ssh_argv(port, "eve", known_hosts, key, "-N", "-o", "ExitOnForwardFailure=yes", "-R", "0:127.0.0.1:9")
    forwarded = subprocess.run(remote, **run)
    assert forwarded.returncode != 0
    assert "remote port forwarding failed" in forwarded.stderr

    # A local forward to the chat's own telnet door: refused, so nothing arrives through it.
    local_port = free_port()
    local = ssh_argv(port, "eve", known_hosts, key, "-N", "-L", f"{local_port}:127.0.0.1:{ssh_server.tcp_port}")
    tunnel = subprocess.Popen(local, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", local_port), timeout=5)
                break
            except ConnectionRefusedError:
                assert time.monotonic() < deadline, "the ssh client never opened its local port"
                time.sleep(0.1)
        with sock:
            assert sock.recv(4096) == b""  # closed without a byte: no telnet welcome came through
    finally:
        tunnel.kill()
        _, stderr = tunnel.communicate(timeout=10)
    assert "open failed" in stderr.decode()
    assert ssh_server.health()["clients"]["telnet"] == 0


def test_the_host_key_is_kept_across_a_restart(
    ssh_server: ServerProcess, key: Path, known_hosts: Path, terminals: list[SshTerminal]
) -> None:
    host_key = Path(ssh_server.env["CHAT_SSH_HOST_KEY"])
    assert stat.S_IMODE(host_key.stat().st_mode) == 0o600
    first = SshTerminal(ssh_port(ssh_server), "alice", known_hosts, key)
    terminals.append(first)
    remembered = known_hosts.read_text()
    assert remembered.strip()

    ssh_server.stop()
    first.wait_for("Disconnected: server restarting")
    first.exited()  # the session ends (with or without an exit status, as the close races the channel's)
    ssh_server.start()

    strict = [*ssh_argv(ssh_port(ssh_server), "alice", known_hosts, key, "-T"), "-o", "StrictHostKeyChecking=yes"]
    again = subprocess.run(strict, input="/quit\n", capture_output=True, text=True, timeout=20)
    assert "* You are alice" in again.stdout, again.stderr
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" not in again.stderr
    assert known_hosts.read_text() == remembered


def test_a_piped_session_reads_like_netcat_and_gets_history(
    start_ssh_server: Callable[..., ServerProcess], key: Path, known_hosts: Path
) -> None:
    server = start_ssh_server(CHAT_TCP_REPLAY="5")
    telnet = server.tcp(nick="tina")
    telnet.send("said before you came")
    time.sleep(0.2)
    piped = run_ssh(server, "pipe", known_hosts, key, "from a pipe\n")
    lines = piped.stdout.splitlines()
    assert any(re.fullmatch(r"\d\d:\d\d \[tina\] said before you came", line) for line in lines), lines
    assert "\x1b[" not in piped.stdout  # no terminal, no escape sequences
    assert telnet.expect(lambda line: "from a pipe" in line) == "[pipe] from a pipe"
    assert piped.returncode == 0


def test_admission_refusals_are_printed_by_ssh(
    start_ssh_server: Callable[..., ServerProcess], key: Path, known_hosts: Path
) -> None:
    server = start_ssh_server(
        CHAT_MAX_CONNECTIONS="1",
    )
    telnet = server.tcp()
    refused = run_ssh(server, "late", known_hosts, key, "")
    assert refused.returncode != 0
    assert "Connection refused: server full, try again later" in refused.stderr
    telnet.send("still fine")


def test_a_connection_that_never_says_its_version_is_cut_at_the_start_deadline(
    start_ssh_server: Callable[..., ServerProcess],
) -> None:
    server = start_ssh_server(CHAT_HANDSHAKE_START="0.5", CHAT_SSH_LOGIN_GRACE="30")
    assert 0.4 < _seconds_until_cut(server, b"") < 5  # the start deadline, far from the login grace


def test_a_connection_that_stalls_after_its_version_is_cut_after_the_login_grace_time(
    start_ssh_server: Callable[..., ServerProcess],
) -> None:
    server = start_ssh_server(CHAT_HANDSHAKE_START="0.5", CHAT_SSH_LOGIN_GRACE="1.5")
    assert 1.3 < _seconds_until_cut(server, b"SSH-2.0-stalling\r\n") < 8


def _seconds_until_cut(server: ServerProcess, said: bytes) -> float:
    """Connect, say ``said`` and nothing more: how long until the server hangs up."""
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", ssh_port(server)), timeout=10) as sock:
        sock.sendall(said)
        assert sock.recv(256).startswith(b"SSH-2.0-")
        while sock.recv(4096):
            pass
    return time.monotonic() - started


def logged_in(server: ServerProcess, user: str, key: Path) -> Any:
    """An SSH connection to ``server``'s SSH door as ``user`` with ``key`` (``async with``)."""
    return asyncssh.connect(
        "127.0.0.1", ssh_port(server), username=user, client_keys=[asyncssh.read_private_key(key)], known_hosts=None
    )


def test_one_connection_opens_one_chat_session(ssh_server: ServerProcess, key: Path) -> None:
    telnet = ssh_server.tcp(nick="tina")

    async def two_sessions() -> str:
        async with logged_in(ssh_server, "alice", key) as conn:
            chan, _ = await conn.create_session(asyncssh.SSHClientSession)
            with pytest.raises(asyncssh.ChannelOpenError) as refused:
                await conn.create_session(asyncssh.SSHClientSession)
            chan.write("still one of me\n")
            telnet.expect("[alice] still one of me")
            assert ssh_server.health()["clients"]["ssh"] == 1
            return refused.value.reason

    reason = asyncio.run(two_sessions())
    assert reason == "One chat session per connection: open another connection to chat twice"


@pytest.mark.parametrize("noise", ["\x7f\x08\x15", "x"], ids=["erasing-nothing", "endless-line"])
def test_a_session_that_keeps_sending_noise_is_cut(ssh_server: ServerProcess, key: Path, noise: str) -> None:
    telnet = ssh_server.tcp(nick="tina")

    async def flood() -> str:
        async with logged_in(ssh_server, "noisy", key) as conn:
            process = await conn.create_process(term_type=None)
            await process.stdout.readline()  # the welcome: in the room
            chunk = noise * (65536 // len(noise))
            deadline = time.monotonic() + 10  # far beyond the few seconds a flooder has
            try:
                while not process.stdout.at_eof() and time.monotonic() < deadline:
                    process.stdin.write(chunk)
                    await process.stdin.drain()
                    await asyncio.sleep(0.01)
            except BrokenPipeError:  # closed by the server while it was sending
                pass
            return await asyncio.wait_for(process.stdout.read(), 5)

    said = asyncio.run(flood())
    assert "too much input the server could not accept" in said
    telnet.expect(lambda line: "noisy" in line and "left" in line)
    telnet.send("the room talks on")
    assert ssh_server.health()["clients"]["ssh"] == 0


def test_idle_logins_never_lock_an_honest_user_out(
    start_ssh_server: Callable[..., ServerProcess], key: Path, known_hosts: Path
) -> None:
    server = start_ssh_server()  # the default caps and deadlines
    telnet = server.tcp(nick="tina")
    idle = []  # each says its version, then never goes on: a login stuck for the whole grace time
    try:
        for _ in range(64):
            sock = socket.create_connection(("127.0.0.1", ssh_port(server)), timeout=5)
            sock.sendall(b"SSH-2.0-idle\r\n")
            idle.append(sock)
        started = time.monotonic()
        honest = run_ssh(server, "honest", known_hosts, key, "through the crowd\n")
        login = time.monotonic() - started
        assert honest.returncode == 0, honest.stderr
        assert "* You are honest" in honest.stdout
        assert telnet.expect(lambda line: "through the crowd" in line) == "[honest] through the crowd"
        assert _closed_by_server(idle, at_least=33) >= 33  # the 32 let in wait; the others were shed
    finally:
        for sock in idle:
            sock.close()
    print(f"\nhonest ssh session (login, a line, logout) among 64 idle logins: {login:.3f} s")


def test_a_handshake_flood_waits_outside_and_the_room_talks_on(
    start_ssh_server: Callable[..., ServerProcess],
    key: Path,
    known_hosts: Path,
    terminals: list[SshTerminal],
) -> None:
    server = start_ssh_server(
        CHAT_SSH_MAX_HANDSHAKES="8",
        CHAT_RATE="0",
    )
    alice = SshTerminal(ssh_port(server), "alice", known_hosts, key)
    terminals.append(alice)
    telnet, web = server.tcp(nick="tina"), server.web(nick="wendy")
    before = [_round_trip(telnet, web, f"before {n}") for n in range(10)]

    flood = []  # half-open: each says its SSH version, then never goes on with the key exchange
    for _ in range(200):
        sock = socket.create_connection(("127.0.0.1", ssh_port(server)), timeout=5)
        sock.sendall(b"SSH-2.0-flood\r\n")
        flood.append(sock)
    try:
        during = [_round_trip(telnet, web, f"during {n}") for n in range(10)]
        telnet.send("can alice hear me")
        alice.wait_for("[tina] can alice hear me")
        alice.say("loud and clear")
        telnet.expect("[alice] loud and clear")
        assert _closed_by_server(flood, at_least=192) == 192  # all but the 8 let in
    finally:
        for sock in flood:
            sock.close()
    # Generous: a loaded machine jitters, but a room stalled by the flood would take seconds.
    assert sorted(during)[5] < max(0.5, 10 * sorted(before)[5]), (before, during)
    late = SshTerminal(ssh_port(server), "late", known_hosts, key)  # the door is open again
    terminals.append(late)
    assert "* You are late" in late.text()


def _round_trip(telnet: TcpUser, web: WebUser, text: str) -> float:
    started = time.monotonic()
    telnet.send(text)
    web.expect(type="message", text=text)
    return time.monotonic() - started


def _closed_by_server(socks: list[socket.socket], at_least: int, within: float = 5.0) -> int:
    """How many of ``socks`` the server closes (waiting until ``at_least`` of them are, or time is up)."""
    open_ = {sock.fileno(): sock for sock in socks}
    closed = 0
    deadline = time.monotonic() + within
    while closed < at_least and time.monotonic() < deadline:
        readable, _, _ = select.select(list(open_.values()), [], [], max(0.0, deadline - time.monotonic()))
        for sock in readable:
            try:
                data = sock.recv(4096)
            except OSError:
                data = b""
            if not data:
                del open_[sock.fileno()]
                closed += 1
    time.sleep(0.5)  # and no more than that: the ones let in stay open
    readable, _, _ = select.select(list(open_.values()), [], [], 0)
    return closed + sum(1 for sock in readable if not _peek(sock))


def _peek(sock: socket.socket) -> bytes:
    try:
        return sock.recv(4096, socket.MSG_PEEK) or b""
    except BlockingIOError:
        return b"?"
    except OSError:
        return b""


def test_an_ssh_user_who_stops_reading_is_dropped_as_too_slow(
    start_ssh_server: Callable[..., ServerProcess], key: Path, known_hosts: Path
) -> None:
    server = start_ssh_server(CHAT_RATE="0")
    telnet = server.tcp(nick="tina")
    # ssh on a pty of its own (tmux would wake a stopped ssh up again), stopped once it is in the room.
    screen, follower = pty.openpty()
    argv = ssh_argv(ssh_port(server), "alice", known_hosts, key, "-tt")
    alice = subprocess.Popen(argv, stdin=follower, stdout=follower, stderr=follower, start_new_session=True)
    os.close(follower)
    try:
        telnet.expect("* alice joined (ssh)")
        alice.send_signal(signal.SIGSTOP)  # it reads nothing more: the SSH window, then the buffers fill
        for n in range(2500):
            telnet.send(f"{n:05d} " + "x" * 1800)
        telnet.expect("* alice left (too slow)", timeout=30)
        assert server.health()["clients"] == {"web": 0, "telnet": 1, "ssh": 0, "total": 1}
    finally:
        alice.kill()
        alice.wait(5)
        os.close(screen)
    telnet.send("the room goes on")


def test_a_crowd_of_ssh_users_leaving_at_once_disturbs_nobody(
    start_ssh_server: Callable[..., ServerProcess], key: Path
) -> None:
    ssh_server = start_ssh_server(CHAT_SSH_MAX_HANDSHAKES="100")
    telnet, web = ssh_server.tcp(nick="tina"), ssh_server.web(nick="wendy")

    async def crowd() -> None:
        client_key = asyncssh.read_private_key(key)

        async def one(n: int) -> asyncssh.SSHClientConnection:
            conn = await asyncssh.connect(
                "127.0.0.1", ssh_port(ssh_server), username=f"crowd{n}", client_keys=[client_key], known_hosts=None
            )
            await conn.create_session(asyncssh.SSHClientSession, term_type="xterm", term_size=(80, 24))
            return conn

        connections = []
        for start in range(0, 60, 20):
            connections += await asyncio.gather(*(one(n) for n in range(start, start + 20)))
        for conn in connections:
            conn.close()  # all at once: the room writes leaves to sessions that are closing
        await asyncio.gather(*(conn.wait_closed() for conn in connections))

    asyncio.run(crowd())
    deadline = time.monotonic() + 10
    while ssh_server.health()["clients"]["ssh"]:
        assert time.monotonic() < deadline, ssh_server.health()
        time.sleep(0.1)
    telnet.send("still here")
    assert web.expect(type="message", nick="tina")["text"] == "still here"
    assert "Traceback" not in ssh_server.output()


# -- keys as identities ------------------------------------------------------------------------

KEY_OWNERS_PASSWORD = "the other way in"


def test_a_nick_registered_to_a_key_is_proved_by_it_and_by_a_token_elsewhere(
    ssh_server: ServerProcess, key: Path, known_hosts: Path, tmp_path: Path, terminals: list[SshTerminal]
) -> None:
    """Over SSH, /register with no password protects the nick for the client's key; the key proves
    it at every login, and a token from it proves it from the other doors."""
    port, other_key = ssh_port(ssh_server), make_key(tmp_path, "id_other")
    alice = SshTerminal(port, "alice", known_hosts, key)
    terminals.append(alice)
    alice.say("/register")
    alice.wait_for("Your token for alice:")
    shown = "".join(alice.screen())  # the rows joined again where the terminal wrapped them
    assert f"Your key {fingerprint(key)} proves it" in shown
    token = shown.split("Your token for alice: ", 1)[1].split(" ")[0]
    alice.close()

    impostor = SshTerminal(port, "alice", known_hosts, other_key)  # another key: a guest
    terminals.append(impostor)
    impostor.wait_for("'alice' is a registered nick")
    told = "".join(impostor.screen())  # a nick with no password is not said to take one
    assert "its SSH key proves it, or /identify alice TOKEN" in told and "/identify PASSWORD" not in told
    impostor.close()

    again = SshTerminal(port, "alice", known_hosts, key)  # the key proves it
    terminals.append(again)
    assert "* You are alice" in again.text()
    telnet = ssh_server.tcp()
    again.close()
    telnet.expect(lambda line: line.startswith("* alice left"))  # the nick is free again
    telnet.send(f"/identify alice {token}")
    telnet.expect("* You are identified as alice")
    telnet.expect(lambda line: line.endswith("is now known as alice"))


def test_the_owner_adds_a_password_over_ssh_without_it_showing(
    ssh_server: ServerProcess, key: Path, known_hosts: Path, terminals: list[SshTerminal]
) -> None:
    bob = SshTerminal(ssh_port(ssh_server), "bob", known_hosts, key)
    terminals.append(bob)
    bob.say("/register")
    bob.wait_for("Your key")
    bob.say("/register " + KEY_OWNERS_PASSWORD)  # the owner adds a password
    bob.wait_for("Your password proves it")
    bob.say("/oper")  # a password asked for on its own line is not shown as it is typed
    bob.wait_for("Type the password on the next line (it is not shown as you type)")
    assert "telnet" not in bob.text() and "netcat" not in bob.text()  # the prompt speaks of this door
    bob.type("hidden words")
    assert "hidden words" not in bob.text()
    bob.press("Enter")
    bob.wait_for("No operator password is set")
    bob.close()
    web = ssh_server.web()
    web.say(f"/identify bob {KEY_OWNERS_PASSWORD}")
    got = web.expect(lambda e: e["type"] in ("identified", "error"))
    assert got.get("nick") == "bob", got

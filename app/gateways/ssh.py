"""The SSH door: ``ssh -p PORT nick@host`` joins the room, with the SSH key as the identity.

asyncssh does the protocol; this module decides who gets in and what a session may do:

- **Anyone may log in.** The username is the nick asked for. A client with a key logs in by
  public key, and the key's SHA256 fingerprint is kept as the connection's identity
  (``SshClient.key_fingerprint``, what nick registration builds on); a client without a key logs
  in by keyboard-interactive authentication with no question asked, and has no identity. Password
  authentication is not offered: a password prompt that accepts anything would only mislead.
- **Only the chat.** A session may open a shell (the chat) and nothing else: no command (exec),
  no subsystem (sftp), no port forwarding either way, no agent or X11 forwarding.
- **A real terminal.** With a pseudo-terminal, asyncssh's line editor runs on the server:
  backspace, arrows, Home/End, history with up/down, and messages arriving while a line is typed
  are written above it and the line redrawn below, at the window's current width. Without one
  (``ssh -T``, a pipe), a session is a plain line stream like netcat's.
- **The handshake is the costly part** (key exchange is public-key arithmetic), so a connection
  that has not yet reached the room holds a place in the hub's pool of unfinished handshakes
  (``app.hub.handshakes``), capped for this door by ``CHAT_SSH_MAX_HANDSHAKES``, per address (loopback
  and proxies included) and in total; when a cap is reached the idlest, oldest one is shed
  for the newcomer. Its version line must come within ``CHAT_HANDSHAKE_START`` seconds, and
  the login and session within ``CHAT_SSH_LOGIN_GRACE``. The room's own admission (full, too many
  from one address) is checked when the client names its user, and refused with a disconnect
  message the ``ssh`` client prints.
- **One session per connection.** A connection is one person in the room: a second session
  (``ssh -O`` multiplexing, a client asking twice) is refused with a message, so one handshake
  never buys a crowd of chat clients past the connection caps.

One session is one ``hub.Client`` like any telnet connection: the same hub, limits, flood
control, replay and goodbyes. Its output goes through a fan-out channel shared by every client
of its kind (colour terminal, plain terminal, or no terminal: the telnet channel).
"""

from __future__ import annotations

import asyncio
import logging
from enum import Enum

from app.codecs import telnet
from app.codecs.terminal import TerminalCodec, supports_colour
from app.config import Settings
from app.delivery.fanout import Channel, Codec, Flusher, Outbox
from app.delivery.laggards import Laggards
from app.domain.events import Event, Gateway, Kind
from app.domain.goodbye import Goodbye, Refusal
from app.gateways.closing import CLOSE_TIMEOUT
from app.gateways.host_key import load_host_key
from app.gateways.ssh_library import asyncssh
from app.gateways.tcp import TELNET, charge_noise, line_too_long
from app.hub.core import Hub
from app.hub.handshakes import Ending, Handshake

log = logging.getLogger("app.ssh")

ONE_SESSION = "One chat session per connection: open another connection to chat twice"

KEEPALIVE_INTERVAL = 30.0
KEEPALIVE_COUNT = 4
"""SSH keepalives: traffic for proxies that cut idle connections, and a vanished client is noticed
within about two minutes (as the TCP door's keepalive does)."""

LINE_HISTORY = 100
"""Lines each terminal remembers for up/down."""


class Stage(Enum):
    """Where a connection or session is in its life."""

    HANDSHAKE = "handshake"  # connected, not yet logged in with a session open
    OPEN = "open"  # in the room
    CLOSING = "closing"  # our side has begun to close: only the goodbye is still written
    CLOSED = "closed"


class SshConnection(asyncssh.SSHServer):
    """One SSH connection: admission, authentication, and the sessions it opens."""

    def __init__(self, gateway: SshGateway) -> None:
        self.gateway = gateway
        self.hub = gateway.hub
        self.conn: asyncssh.SSHServerConnection | None = None
        self.address = ""
        self.budget: str | None = None
        self.stage = Stage.HANDSHAKE
        self.username = ""
        self.key_fingerprint: str | None = None
        """SHA256 fingerprint of the key the client logged in with (None: it logged in without one)."""
        self.session: SshClient | None = None
        """The one chat session this connection may open; the connection closes with it."""
        self.handshake: Handshake | None = None
        """Its place among unfinished handshakes, until its session opens."""

    # -- connection ---------------------------------------------------------------------------

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername")
        self.address = str(peer[0]) if peer else ""
        self.budget = self.hub.budget(self.address)
        started = self.hub.handshake_started(
            Gateway.SSH,
            self.address,
            self.gateway.grace,
            self._cut_handshake,
            heard=lambda: conn.get_extra_info("client_version") is not None,
        )
        if isinstance(started, Refusal):
            self.stage = Stage.CLOSED
            log.info("SSH connection from %s dropped before its handshake: %s", self.address, started.goodbye.reason)
            conn.abort()
            return
        self.handshake = started

    def connection_lost(self, exc: Exception | None) -> None:
        if self.handshake is not None:
            self.handshake.abandoned()
        self.stage = Stage.CLOSED

    def _cut_handshake(self, ending: Ending) -> None:
        """The pool ended the handshake: no version line in time (cut without a word: nothing SSH
        was said), or not logged in in time, or shed for a newcomer (told, as ``ssh`` prints it)."""
        log.info("SSH connection from %s cut before its session: %s", self.address, ending.value)
        if self.conn is None:
            return
        if ending is Ending.SILENT:
            self.conn.abort()
        elif ending is Ending.TOO_SLOW:
            self.conn.disconnect(asyncssh.DISC_BY_APPLICATION, "Login grace time exceeded")
        else:
            self.conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS, "Server busy: too many logins at once, retry")

    # -- authentication: anyone, with or without a key ------------------------------------------

    def begin_auth(self, username: str) -> bool:
        if self.handshake is not None:
            self.handshake.progressed()  # the key exchange is done: not idle, whatever ``heard`` said
        refusal = self.hub.refusal(self.budget)
        if refusal is not None and self.conn is not None:
            self.conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS, refusal.line())
            return True
        self.username = username
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # Called for the client's offer and again for its signed request: the last key validated
        # is the one whose signature logged the client in.
        self.key_fingerprint = key.get_fingerprint("sha256")
        return True

    def kbdint_auth_supported(self) -> bool:
        return True

    def get_kbdint_challenge(self, username: str, lang: str, submethods: str) -> bool:
        self.key_fingerprint = None  # no key proved: whatever was offered before does not count
        return True  # logged in, no question asked

    def password_auth_supported(self) -> bool:
        return False

    # -- what the client may open: a session, nothing else ------------------------------------------

    def session_requested(self) -> SshClient:
        if self.session is not None:
            log.info("refused a second session to %s over SSH", self.address)
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, ONE_SESSION)
        if self.handshake is not None:
            self.handshake.finished()  # logged in: the session is admitted (or refused) as a client
        self.stage = Stage.OPEN
        self.session = SshClient(self)
        return self.session

    def session_closed(self) -> None:
        if self.conn is not None:
            self.conn.close()

    def cut(self) -> None:
        """A closing session's client did not let go in time: drop the whole connection."""
        if self.stage is not Stage.CLOSED and self.conn is not None:
            self.conn.abort()


class SshClient(asyncssh.SSHServerSession):  # type: ignore[type-arg]
    """One chat session over SSH (a ``hub.Client``)."""

    gateway = Gateway.SSH

    def __init__(self, connection: SshConnection) -> None:
        self.connection = connection
        self.hub = connection.hub
        self.id = self.hub.next_id()
        self.address = connection.address
        self.budget = connection.budget
        self.key_fingerprint = connection.key_fingerprint
        """The identity this session's user proved (SHA256 key fingerprint), or None."""
        self.stage = Stage.HANDSHAKE
        self.chan: asyncssh.SSHServerChannel | None = None  # type: ignore[type-arg]
        self.decoder = telnet.LineDecoder(connection.gateway.max_line)
        self.codec: Codec = TELNET  # type: ignore[type-arg]
        self.outbox: Outbox | None = None  # type: ignore[type-arg]

    # -- asyncssh.SSHServerSession ---------------------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHServerChannel) -> None:  # type: ignore[type-arg]
        self.chan = chan

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        log.info("refused a command from %s over SSH: only the chat is served", self.address)
        return False

    def subsystem_requested(self, subsystem: str) -> bool:
        log.info("refused the %s subsystem to %s over SSH", subsystem, self.address)
        return False

    def session_started(self) -> None:
        assert self.chan is not None
        channel = self.connection.gateway.channel_for(self.chan.get_terminal_type() or "")
        self.codec = channel.codec
        self.outbox = Outbox(channel, self.write, self._overflow)
        nick = self.connection.username or None
        refusal = self.hub.refusal(self.budget, nick)  # checked at login too; others may have come since
        if refusal is not None:
            self.chan.write(f"! {refusal.line()}\r\n")
            self.chan.exit(1)
            return
        self.stage = Stage.OPEN
        self.hub.connect(self, nick)
        if self.key_fingerprint is not None:
            log.info("SSH session from %s with key %s", self.address, self.key_fingerprint)
            text = f"You logged in with the key {self.key_fingerprint}"
            self.hub.tell(self, Event(Kind.SYSTEM, text=text, code="identity"))

    def data_received(self, data: str, datatype: asyncssh.DataType) -> None:
        hub = self.hub
        for item in self.decoder.feed(data.encode()):
            if self.stage is not Stage.OPEN:
                return
            if type(item) is str:
                hub.receive(self, item)
            elif item is telnet.Signal.OVERLONG:
                line_too_long(hub, self, self.decoder.max_line)
        if self.stage is Stage.OPEN:
            charge_noise(hub, self, self.decoder)  # erasing nothing, an endless line: a flood if kept up

    def soft_eof_received(self) -> None:
        """Ctrl-D on an empty line."""
        self._quit()

    def break_received(self, msec: int) -> bool:
        """Ctrl-C."""
        self._quit()
        return True

    def signal_received(self, signal: str) -> None:
        if signal in ("INT", "TERM", "HUP", "QUIT"):
            self._quit()

    def eof_received(self) -> bool:
        """The client's input ended (a pipe ran out): answer what it sent, then leave."""
        self.hub.after_replies(self._quit)
        return True

    def pause_writing(self) -> None:
        if self.outbox is not None:
            self.outbox.blocked()

    def pause_input(self) -> None:
        """Leave what the client sends unread for now (the room is waiting for its readers)."""
        if self.chan is not None:
            self.chan.pause_reading()

    def resume_input(self) -> None:
        if self.chan is not None:
            self.chan.resume_reading()

    def resume_writing(self) -> None:
        if self.outbox is not None:
            self.outbox.writable()

    def connection_lost(self, exc: Exception | None) -> None:
        self.stage = Stage.CLOSED
        if self.outbox is not None:
            self.outbox.discard()
        self.hub.disconnect(self, "connection lost" if exc else "")
        self.connection.session_closed()

    # -- hub.Client ------------------------------------------------------------------------------

    def send(self, chunk: bytes | str) -> None:
        assert self.outbox is not None
        self.outbox.push(chunk)  # type: ignore[arg-type]

    def write(self, data: bytes) -> None:
        """The outbox's writer: the channel's bytes, as the text the SSH channel carries."""
        chan = self.chan
        if self.stage is Stage.OPEN and chan is not None and not chan.is_closing():
            chan.write(data.decode())

    def ping(self, visible: bool) -> None:
        """Idle pings are not needed here: SSH keepalives already carry traffic."""

    def hide_input(self, hidden: bool) -> None:
        """The line editor stops showing what is typed (a password), or shows it again."""
        if self.chan is not None:
            self.chan.set_echo(not hidden)

    def close(self, goodbye: Goodbye, notice: bytes | str | None, detail: str = "") -> None:
        chan, outbox = self.chan, self.outbox
        if self.stage is not Stage.OPEN or chan is None or outbox is None:
            return
        self.stage = Stage.CLOSING
        last = outbox.take()
        outbox.discard()
        if chan.is_closing():  # the client closed first: nobody is left to read a goodbye
            return
        if isinstance(notice, bytes):
            last += notice
        if last:
            chan.write(last.decode())
        chan.exit(0 if goodbye is Goodbye.QUIT else 1)
        asyncio.get_running_loop().call_later(CLOSE_TIMEOUT, self._cut)

    def _cut(self) -> None:
        if self.stage is not Stage.CLOSED:
            self.connection.cut()

    def _quit(self) -> None:
        if self.stage is Stage.OPEN:
            self.hub.receive(self, "/quit")

    def _overflow(self) -> None:
        self.hub.drop(self, Goodbye.TOO_SLOW)


class SshGateway:
    """The SSH listener and the channels its terminals read from."""

    def __init__(
        self, hub: Hub, flusher: Flusher, laggards: Laggards, plain: Channel[bytes], settings: Settings
    ) -> None:
        self.hub = hub
        self.plain = plain
        """Sessions without a terminal read the telnet door's lines."""
        self.terminals = {
            colour: Channel(TerminalCodec(colour), laggards, flusher, settings.tcp_replay) for colour in (True, False)
        }
        hub.channels.extend(self.terminals.values())
        self.grace = settings.ssh_login_grace
        self.max_line = settings.tcp_max_line
        self.host_key_path = settings.ssh_host_key
        self.acceptor: asyncssh.SSHAcceptor | None = None

    def channel_for(self, term: str) -> Channel[bytes]:
        """The channel for a session whose client said its terminal is ``term`` ("" for none)."""
        return self.terminals[supports_colour(term)] if term else self.plain

    async def start(self, host: str, port: int, backlog: int = 1024) -> None:
        """Load (or make) the host key and listen; a bad key or a taken port fails start-up."""
        key = load_host_key(self.host_key_path)
        if logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            asyncssh.set_log_level(logging.WARNING)  # its per-connection lines would drown the chat log
        self.acceptor = await asyncssh.listen(
            host or None,
            port,
            server_factory=lambda: SshConnection(self),
            server_host_keys=[key],
            reuse_address=True,
            backlog=backlog,
            keepalive_interval=KEEPALIVE_INTERVAL,
            keepalive_count_max=KEEPALIVE_COUNT,
            encoding="utf-8",
            errors="replace",
            line_editor=True,
            line_echo=False,  # the room shows the line back as others see it (see app.codecs.terminal)
            line_history=LINE_HISTORY,
            max_line_length=self.max_line,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
        )
        log.info("SSH gateway listening on %s:%d, host key %s", host, port, key.get_fingerprint("sha256"))

    def stop_accepting(self) -> None:
        if self.acceptor is not None:
            self.acceptor.close()

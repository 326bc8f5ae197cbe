"""The TLS door: the TCP door's line protocol inside TLS (``openssl s_client``, ``ncat --ssl``).

A TLS user is a ``TcpClient`` like any telnet user (same decoder, limits, flood control and
channel: the bytes one line encodes to are the same, the transport encrypts them). What the door
adds is the knock: before starting TLS it peeks at the first byte a client sends, without
taking it off the socket. A TLS ClientHello starts with the handshake record type (0x16); anything
else, or nothing within ``CHAT_HANDSHAKE_START`` seconds, is someone who typed ``telnet`` or ``nc``
at the wrong port: they get one plain line saying where the plain door is, instead of a silent hang.

From accept to the end of the TLS handshake a connection holds a place in the hub's pool of
unfinished handshakes (``app.hub.handshakes``): counted in the caps, cut if it is silent or slower
than ``CHAT_HANDSHAKE_FINISH``, and shed for a newcomer when the pool is full.

The certificate and key are read at start and again on ``SIGHUP`` (a renewed certificate): the
new context serves new connections; established ones keep theirs and are never dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl

from app.config import Settings
from app.delivery.fanout import Channel
from app.domain.events import Gateway
from app.domain.goodbye import Refusal
from app.gateways.tcp import TcpClient
from app.hub.core import Hub
from app.hub.handshakes import Ending, Handshake

log = logging.getLogger("app.tls")

HANDSHAKE_RECORD = 0x16
"""The first byte of every TLS handshake record, so of every ClientHello."""

TURNED_AWAY_LINGER = 1.0
"""Seconds a turned-away connection stays open after its line, so the line is read, not reset away."""

ACCEPT_PAUSE = 1.0
"""Seconds accepting pauses when the process is out of file descriptors (as asyncio's own servers do)."""


class TlsClient(TcpClient):
    """One TLS connection: a telnet-door client whose transport encrypts."""

    __slots__ = ("handshake",)
    gateway = Gateway.TLS

    def __init__(
        self, hub: Hub, channel: Channel[bytes], max_line: int, quiet_grace: float, handshake: Handshake
    ) -> None:
        super().__init__(hub, channel, max_line, quiet_grace)
        self.handshake = handshake
        """Its place among unfinished handshakes, given up as the TLS handshake completes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.handshake.finished()  # TLS is up: from here on it is a client like any other
        super().connection_made(transport)


class CertificateError(Exception):
    """The certificate or key cannot be used; the message names the files and the problem."""


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context for TLS 1.2 and later with the given PEM certificate chain and key, that
    refuses renegotiation."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # A TLS 1.2 client may ask for a new handshake at any time: public-key work for the server,
    # outside every handshake cap and deadline. Nobody needs it here (TLS 1.3 has none).
    context.options |= ssl.OP_NO_RENEGOTIATION
    try:
        context.load_cert_chain(cert, key)
    except (OSError, ssl.SSLError) as problem:
        detail = problem.strerror if isinstance(problem, OSError) and problem.strerror else str(problem)
        raise CertificateError(f"CHAT_TLS_CERT={cert}, CHAT_TLS_KEY={key}: {detail}") from None
    return context


class TlsGateway:
    """The TLS listening socket. It shares the TCP door's channel: TLS users read the same bytes."""

    def __init__(self, hub: Hub, channel: Channel[bytes], settings: Settings) -> None:
        self.hub = hub
        self.channel = channel
        self.max_line = settings.tcp_max_line
        self.finish = settings.handshake_finish
        self.quiet_grace = settings.quiet_grace
        self.cert, self.key = settings.tls_cert, settings.tls_key
        self.context: ssl.SSLContext | None = None
        """Serves new connections; replaced whole on reload (a connection keeps the one it started with)."""
        self.listener: socket.socket | None = None
        self.handshakes: set[asyncio.Task[None]] = set()
        """TLS handshakes under way (kept so they are not collected mid-way)."""
        plain = f"port {settings.tcp_port}" if settings.tcp_port is not None else "not open on this server"
        self.hint = (
            f"! This port speaks TLS: connect with `openssl s_client -quiet -connect HOST:{settings.tls_port}`"
            f" or `ncat --ssl HOST {settings.tls_port}`. The plain telnet/netcat door is {plain}.\r\n"
        ).encode()

    async def start(self, host: str, port: int, backlog: int = 1024) -> None:
        """Read the certificate and listen; a bad certificate or a taken port fails start-up."""
        self.context = tls_context(self.cert, self.key)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.create_server((host, port), family=family, backlog=backlog)
        listener.setblocking(False)
        self.listener = listener
        asyncio.get_running_loop().add_reader(listener.fileno(), self._accept)
        log.info("TLS gateway listening on %s:%d", *listener.getsockname()[:2])

    def reload(self) -> None:
        """Read the certificate and key again (``SIGHUP``); keep the old ones if the new do not load."""
        try:
            context = tls_context(self.cert, self.key)
        except CertificateError as problem:
            log.error("TLS certificate not reloaded, the old one stays in use: %s", problem)
            return
        self.context = context
        log.info("TLS certificate reloaded from %s", self.cert)

    def stop_accepting(self) -> None:
        listener, self.listener = self.listener, None
        if listener is not None:
            asyncio.get_running_loop().remove_reader(listener.fileno())
            listener.close()

    # -- the knock: peek at the first byte -------------------------------------------------------

    def _accept(self) -> None:
        loop = asyncio.get_running_loop()
        while self.listener is not None:
            try:
                conn, _ = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as problem:  # out of file descriptors: pause, or the loop spins on the listener
                log.error("TLS gateway cannot accept: %s", problem)
                listener = self.listener
                loop.remove_reader(listener.fileno())
                loop.call_later(ACCEPT_PAUSE, self._resume_accepting, listener)
                return
            conn.setblocking(False)
            Knock(self, conn)

    def _resume_accepting(self, listener: socket.socket) -> None:
        if listener is self.listener:
            asyncio.get_running_loop().add_reader(listener.fileno(), self._accept)


class Knock:
    """One accepted connection until its TLS handshake is done: its place in the handshake pool,
    the peek at its first byte, then the task running TLS, or the line turning it away. It keeps
    its place until its socket is closed, lingering included: every descriptor it holds is counted."""

    __slots__ = ("conn", "door", "handshake", "peer", "task", "turned_away")

    def __init__(self, door: TlsGateway, conn: socket.socket) -> None:
        self.door = door
        self.conn = conn
        self.peer = _peer(conn)
        self.task: asyncio.Task[None] | None = None
        """Runs the TLS handshake once the client knocked with a ClientHello."""
        self.turned_away = False
        """Told where the plain door is; it lingers a moment so the line is read, not reset away."""
        started = door.hub.handshake_started(Gateway.TLS, self.peer, door.finish, self._cut)
        if isinstance(started, Refusal):
            log.info("refused a TLS connection from %s: %s", self.peer, started.goodbye.reason)
            with contextlib.suppress(OSError):
                conn.send(f"! {started.line()}\r\n".encode())
            conn.close()  # nothing was read, so nothing unread resets the line away
            return
        self.handshake = started
        asyncio.get_running_loop().add_reader(conn.fileno(), self._knocked)

    def _knocked(self) -> None:
        """The first bytes are in: start TLS on a ClientHello, else turn the client away."""
        conn = self.conn
        loop = asyncio.get_running_loop()
        loop.remove_reader(conn.fileno())
        try:
            first = conn.recv(1, socket.MSG_PEEK)
        except OSError:
            first = b""
        if not first:
            self._close()
        elif first[0] != HANDSHAKE_RECORD:
            self._turn_away("plain text on the TLS port", linger=True)
        else:
            self.handshake.progressed()
            self.task = loop.create_task(self._handshake())
            self.door.handshakes.add(self.task)
            self.task.add_done_callback(self.door.handshakes.discard)

    async def _handshake(self) -> None:
        door, conn = self.door, self.conn
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: TlsClient(door.hub, door.channel, door.max_line, door.quiet_grace, self.handshake),
                conn,
                ssl=door.context,
            )
        except (OSError, ssl.SSLError) as problem:
            log.info("TLS handshake with %s failed: %s", self.peer, problem or type(problem).__name__)
            self._close()

    def _cut(self, ending: Ending) -> None:
        """The pool ended the handshake: a silent client hears where the plain door is; any other
        is closed at once (a half-done TLS handshake cannot carry a line)."""
        if self.task is not None:
            log.info("TLS handshake with %s cut: %s", self.peer, ending.value)
            self.task.cancel()  # asyncio closes the connection it was handshaking on
        elif ending is Ending.SILENT and not self.turned_away:
            self._turn_away("no TLS handshake in time", linger=False)  # nothing unread: no reset to fear
        else:
            self._close()

    def _turn_away(self, reason: str, linger: bool) -> None:
        """One plain line saying where the plain door is, then close. With ``linger``, what the
        client sent is read and dropped for a moment first: closing with unread bytes would reset
        the connection, and a reset can destroy the line before the client reads it."""
        conn = self.conn
        log.info("turned away a connection on the TLS port from %s: %s", self.peer, reason)
        self.turned_away = True
        with contextlib.suppress(OSError):
            conn.send(self.door.hint)
            conn.shutdown(socket.SHUT_WR)
        if not linger:
            self._close()
            return
        loop = asyncio.get_running_loop()
        loop.add_reader(conn.fileno(), self._drain)
        loop.call_later(TURNED_AWAY_LINGER, self._close)

    def _drain(self) -> None:
        try:
            while self.conn.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        self._close()

    def _close(self) -> None:
        conn = self.conn
        if conn.fileno() >= 0:
            asyncio.get_running_loop().remove_reader(conn.fileno())
            conn.close()
        self.handshake.abandoned()


def _peer(conn: socket.socket) -> str:
    try:
        return str(conn.getpeername()[0])
    except OSError:
        return "?"

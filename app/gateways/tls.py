"""The TLS door: the TCP door's line protocol inside TLS (``openssl s_client``, ``ncat --ssl``).

A TLS user is a ``TcpClient`` like any telnet user (same decoder, limits, flood control and
channel: the bytes one line encodes to are the same, the transport encrypts them). What the door
adds is the knock: before starting TLS it peeks at the first byte a client sends, without
taking it off the socket. A TLS ClientHello starts with the handshake record type (0x16); anything
else, or nothing within ``CLIENT_HELLO_TIMEOUT``, is someone who typed ``telnet`` or ``nc`` at the
wrong port: they get one plain line saying where the plain door is, instead of a silent hang.

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
from app.domain.events import Gateway
from app.fanout import Channel
from app.gateways.tcp import TcpClient
from app.hub import Hub

log = logging.getLogger("app.tls")

HANDSHAKE_RECORD = 0x16
"""The first byte of every TLS handshake record, so of every ClientHello."""

CLIENT_HELLO_TIMEOUT = 3.0
"""Seconds a new connection has to start its TLS handshake before it is told where the plain door is."""

HANDSHAKE_TIMEOUT = 10.0
"""Seconds a started TLS handshake has to finish."""

TURNED_AWAY_LINGER = 1.0
"""Seconds a turned-away connection stays open after its line, so the line is read, not reset away."""

ACCEPT_PAUSE = 1.0
"""Seconds accepting pauses when the process is out of file descriptors (as asyncio's own servers do)."""


class TlsClient(TcpClient):
    """One TLS connection: a telnet-door client whose transport encrypts."""

    __slots__ = ()
    gateway = Gateway.TLS


class CertificateError(Exception):
    """The certificate or key cannot be used; the message names the files and the problem."""


def tls_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context for TLS 1.2 and later with the given PEM certificate chain and key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
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
        self.quiet_grace = settings.quiet_grace
        self.cert, self.key = settings.tls_cert, settings.tls_key
        self.context: ssl.SSLContext | None = None
        """Serves new connections; replaced whole on reload (a connection keeps the one it started with)."""
        self.listener: socket.socket | None = None
        self.handshakes: set[asyncio.Task[None]] = set()
        """Handshakes under way (kept so they are not collected mid-way)."""
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
            deadline = loop.call_later(CLIENT_HELLO_TIMEOUT, self._turn_away, conn, "no TLS handshake in time")
            loop.add_reader(conn.fileno(), self._knocked, conn, deadline)

    def _resume_accepting(self, listener: socket.socket) -> None:
        if listener is self.listener:
            asyncio.get_running_loop().add_reader(listener.fileno(), self._accept)

    def _knocked(self, conn: socket.socket, deadline: asyncio.TimerHandle) -> None:
        """The first bytes are in: start TLS on a ClientHello, else turn the client away."""
        loop = asyncio.get_running_loop()
        loop.remove_reader(conn.fileno())
        deadline.cancel()
        try:
            first = conn.recv(1, socket.MSG_PEEK)
        except OSError:
            conn.close()
            return
        if not first:
            conn.close()
        elif first[0] != HANDSHAKE_RECORD:
            self._turn_away(conn, "plain text on the TLS port")
        else:
            task = loop.create_task(self._handshake(conn))
            self.handshakes.add(task)
            task.add_done_callback(self.handshakes.discard)

    async def _handshake(self, conn: socket.socket) -> None:
        peer = _peer(conn)
        try:
            await asyncio.get_running_loop().connect_accepted_socket(
                lambda: TlsClient(self.hub, self.channel, self.max_line, self.quiet_grace),
                conn,
                ssl=self.context,
                ssl_handshake_timeout=HANDSHAKE_TIMEOUT,
            )
        except (OSError, ssl.SSLError, TimeoutError) as problem:
            log.info("TLS handshake with %s failed: %s", peer, problem or type(problem).__name__)
            conn.close()

    def _turn_away(self, conn: socket.socket, reason: str) -> None:
        """One plain line saying where the plain door is, then close (after a moment to read it)."""
        if conn.fileno() < 0:
            return
        loop = asyncio.get_running_loop()
        loop.remove_reader(conn.fileno())
        log.info("turned away a connection on the TLS port from %s: %s", _peer(conn), reason)
        with contextlib.suppress(OSError):
            conn.send(self.hint)
            conn.shutdown(socket.SHUT_WR)
        # What the client sent is read and dropped until it hangs up: closing with unread bytes
        # would reset the connection, and a reset can destroy the line before the client reads it.
        loop.add_reader(conn.fileno(), self._drain, conn)
        loop.call_later(TURNED_AWAY_LINGER, _close, conn)

    def _drain(self, conn: socket.socket) -> None:
        try:
            while conn.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            pass
        _close(conn)


def _close(conn: socket.socket) -> None:
    if conn.fileno() >= 0:
        asyncio.get_running_loop().remove_reader(conn.fileno())
        conn.close()


def _peer(conn: socket.socket) -> str:
    try:
        return str(conn.getpeername()[0])
    except OSError:
        return "?"

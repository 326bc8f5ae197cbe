"""The TCP gateway: telnet and netcat users, one line per message.

A plain ``asyncio.Protocol`` per connection (no stream reader, no task): an idle user costs
one small object. Input goes through the line decoder to the hub; output leaves through the
client's outbox, written once per loop turn and paused while the kernel buffer is full.

A quiet connection is not a person yet. Port scanners, ``nc -z`` and health checks connect and
hang up without a word, and a browser or TLS client pointed at this port speaks first in its own
protocol; none of them should be welcomed, shown history, or announced to the room. So a new
connection is admitted (and counted in the caps) at once, but let into the room only when it
speaks (a line, or telnet negotiation) or after ``CHAT_QUIET_GRACE`` seconds of silence, which
a person who just typed ``nc HOST 2626`` and waits barely notices. Someone who types at once
is let in by their first line, which then goes to the room as usual.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
from collections.abc import Iterator
from typing import cast

from app.codecs import telnet
from app.codecs.lines import NOT_ECHOED
from app.codecs.pieces import runs
from app.codecs.proxy_protocol import ProxyHeaderError, ProxyHeaderReader, is_proxy_header
from app.config import Settings
from app.delivery.fanout import Channel, Flusher, Outbox
from app.delivery.laggards import Laggards
from app.domain.addresses import Networks, budget_key
from app.domain.events import Event, Gateway, Kind
from app.domain.goodbye import Goodbye, Refusal
from app.gateways.buffered import BufferedProtocol
from app.gateways.closing import close_softly, reset
from app.gateways.idle_ping import IdlePing
from app.gateways.pacing import PacedInput, sliced
from app.hub.contract import Client
from app.hub.core import Hub
from app.hub.handshakes import Ending, Handshake

log = logging.getLogger("app.tcp")

KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 15, "TCP_KEEPCNT": 4}
"""Probe a connection idle for a minute, every 15 s, and give up after 4 unanswered probes: a
vanished peer is noticed within about two minutes instead of the kernel's default two hours.
A live peer's kernel answers the probes, so an idle but connected user is never cut."""

NOT_HTTP = "This port speaks plain text lines (telnet, netcat), not HTTP: open the chat page on the web port"
NOT_TLS = "This port speaks plain text lines (telnet, netcat), not TLS: connect with telnet or nc, without TLS"
NOT_SSH = "This port speaks plain text lines (telnet, netcat), not SSH: use the SSH port, or telnet or nc"
NOT_PROXY = (
    "This port speaks plain text lines (telnet, netcat), not the PROXY protocol:"
    " it is off here (CHAT_TCP_PROXY_PROTOCOL)"
)
PROXY_ON_PLAIN_PORT = "PROXY protocol header on the plain chat port"
HEALTHY = b"* ok: the chat server is up (a proxy's own health check: it joins no room)\r\n"
"""What a trusted proxy's health check (PROXY ``LOCAL``/``UNKNOWN``) reads before it is closed."""


def asked_nick(line: str) -> str | None:
    """The nick a line asks for (``/nick NAME``: what a user who knows the server types first), if any."""
    command, _, rest = line.strip().partition(" ")
    return (rest.strip() or None) if command.lower() == "/nick" else None


def is_tls_hello(data: bytes) -> bool:
    """True when a connection opens with a TLS record header: a handshake record (0x16) of TLS
    or SSL 3 (version 3.0 to 3.4). A TLS client pointed at the plain port sends this first."""
    return len(data) >= 3 and data[0] == 0x16 and data[1] == 0x03 and data[2] <= 0x04


_SSH_BANNER = re.compile(r"SSH-\d\.\d+-\S+.*")


def is_ssh_banner(line: str) -> bool:
    """True for an SSH version line (RFC 4253's ``SSH-2.0-software``): an SSH client pointed at the
    plain port says it first."""
    return _SSH_BANNER.fullmatch(line) is not None


MAX_WRITE = 64 * 1024
"""Bytes in one write to a client: a burst goes out in several, so a client that cannot take it
all is paused (and judged) between them rather than after megabytes."""


class TelnetCodec:
    """Events as CRLF lines. A sender's own message is not echoed: their terminal shows it."""

    def encode(self, event: Event, own: bool) -> bytes | None:
        if own and event.kind in NOT_ECHOED:
            return None
        return telnet.encode_event(event, own)

    def pack(self, chunks: list[bytes]) -> list[bytes]:
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        return [data] if len(data) <= MAX_WRITE else runs(chunks, MAX_WRITE)


TELNET = TelnetCodec()

NOP = bytes((telnet.IAC, 241))
"""Telnet's no-operation command: traffic for an idle-cutting proxy, invisible in a telnet client."""


class TcpClient(PacedInput, BufferedProtocol):
    """One telnet/netcat connection (slotted: thousands of idle ones must stay small)."""

    __slots__ = (
        "address",
        "budget",
        "closing",
        "decoder",
        "first_line",
        "grace",
        "hub",
        "id",
        "input_after_close",
        "lost",
        "outbox",
        "quiet",
        "transport",
        "waiting",
    )

    gateway = Gateway.TELNET
    codec = TELNET
    key_fingerprint: str | None = None  # only the SSH door knows its users by key

    def __init__(self, hub: Hub, channel: Channel[bytes], max_line: int, grace: float) -> None:
        self.hub = hub
        self.id = hub.next_id()
        self.address = ""
        self.budget: str | None = None
        self.outbox = Outbox(channel, self.write, self._overflow)
        self.decoder = telnet.LineDecoder(max_line)
        self.transport: asyncio.Transport | None = None
        self.closing = False
        self.lost = False
        self.first_line = True
        self.grace = grace  # seconds of silence after which it is let into the room unasked
        self.quiet: asyncio.TimerHandle | None = None  # set while admitted but not yet in the room
        self.waiting = None
        self.input_after_close = 0

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        tune(transport)
        address = peer_of(transport)
        self.admit(transport, address, self.hub.budget(address))

    def admit(self, transport: asyncio.Transport, address: str, budget: str | None) -> None:
        """Be admitted as ``address`` (the peer's, or the one a PROXY header named), or be refused;
        admitted, it waits quietly until it speaks or its grace ends (see the module docstring)."""
        self.transport = transport
        self.address, self.budget = address, budget
        refusal = self.hub.refusal(budget)
        if refusal is not None:
            transport.write(f"! {refusal.line()}\r\n".encode())
            transport.close()
            return
        if self.grace <= 0:
            self.hub.connect(self)
            return
        self.hub.quiet_started(budget)
        self.quiet = asyncio.get_running_loop().call_later(self.grace, self._enter)

    def _enter(self, nick: str | None = None) -> None:
        """Let a quiet connection into the room (it spoke, or its grace ended): its welcome, history
        and join now. Whatever would refuse a newcomer refuses it still (a ban, a restart), and a
        first line asking for a banned nick (``nick``) is refused as the web refuses it, before any
        welcome or join."""
        if not self._stop_waiting():
            return
        refusal = self.hub.refusal(self.budget, nick)
        if refusal is not None:
            self.close(refusal.goodbye, f"! {refusal.line()}\r\n".encode())
            return
        self.hub.connect(self)

    def _stop_waiting(self) -> bool:
        """No longer quiet (in the room, or gone): True if it was."""
        quiet, self.quiet = self.quiet, None
        if quiet is None:
            return False
        quiet.cancel()
        self.hub.quiet_ended(self.budget)
        return True

    def data_received(self, data: bytes) -> None:
        if self.closing:
            self.cut_if_still_sending(data)  # until the peer lets go, what it sends is not even decoded
            return
        if self.first_line and is_tls_hello(data):
            self._refuse_first(NOT_TLS, "TLS on the plain chat port")
            return
        if self.first_line and is_proxy_header(data):
            self._refuse_first(NOT_PROXY, PROXY_ON_PLAIN_PORT)
            return
        self.take_input(sliced(self.decoder.feed, data))
        if self.quiet is not None and self.decoder.spoke_telnet:
            self._enter()  # a telnet command that asked for no answer (a keepalive NOP): a telnet client

    def take_input(self, items: Iterator[object]) -> None:
        super().take_input(items)
        charge_noise(self.hub, self, self.decoder)

    def handle(self, item: object) -> bool:
        if self.closing:
            return False
        if type(item) is str:
            if self.first_line and telnet.is_http_request(item):
                self._refuse_first(NOT_HTTP, "HTTP request on the chat port")
                return False
            if self.first_line and is_proxy_header(item.encode()):  # a v1 header that came in pieces
                self._refuse_first(NOT_PROXY, PROXY_ON_PLAIN_PORT)
                return False
            if self.first_line and is_ssh_banner(item):
                self._refuse_first(NOT_SSH, "SSH on the plain chat port")
                return False
            if self.quiet is not None:
                if not item.strip():
                    return True  # nothing said yet: a scanner's probe, or Enter pressed before the welcome
                self._enter(asked_nick(item))
                if self.closing:
                    return False
            self.first_line = False
            self.hub.receive(self, item)
        else:
            if self.quiet is not None:
                self._enter()  # telnet negotiation, or a telnet command: a telnet client is there
            if type(item) is bytes:
                self.send(item)  # a telnet answer, queued behind the output of the lines before it
            else:
                self._signal(item)  # type: ignore[arg-type]
        return not self.closing

    def _signal(self, signal: telnet.Signal) -> None:
        if signal is telnet.Signal.OVERLONG:
            line_too_long(self.hub, self, self.decoder.max_line)
        elif signal is telnet.Signal.ARE_YOU_THERE:
            self.send(telnet.ARE_YOU_THERE_ANSWER)
        else:
            self.outbox.skip()  # abort output: what was queued is not written

    def _refuse_first(self, answer: str, reason: str) -> None:
        """Someone spoke another protocol to this port: say so in plain text, and hang up. Before
        its welcome, that one line is all it gets, and the room never hears of it."""
        if self.quiet is None:
            self.hub.error(self, answer, "refused")
            self.hub.drop(self, Goodbye.REFUSED, reason)
            return
        log.info("refused a TCP connection from %s: %s", self.address, reason)
        self.close(Goodbye.REFUSED, self.codec.encode(Event(Kind.ERROR, text=answer, code="refused"), False))

    def eof_received(self) -> bool:
        """The peer is done sending (``nc -N``, the end of a piped file): answer what it sent,
        once those answers are written, then hang up."""
        self.hub.after_replies(self._hang_up)
        return True

    def ping(self, visible: bool) -> None:
        """The room has been quiet: show a proxy some traffic, never a byte the user did not agree to
        see (``IAC NOP`` once the client spoke telnet; an empty line only if ``visible``)."""
        transport = self.transport
        if self.closing or transport is None or transport.is_closing() or transport.get_write_buffer_size():
            return  # closing, or output still queued: not idle
        if self.decoder.spoke_telnet:
            transport.write(NOP)
        elif visible:
            transport.write(b"\r\n")

    def _hang_up(self) -> None:
        self.close(Goodbye.QUIT, None)
        self.hub.disconnect(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self._stop_waiting()
        self.outbox.discard()
        self.hub.disconnect(self, "connection lost" if exc else "")

    # -- hub.Client --------------------------------------------------------------------------

    def hide_input(self, hidden: bool) -> None:
        """Offer to echo (IAC WILL ECHO), which makes a telnet client stop echoing locally, and
        withdraw the offer after; the prompt before it told a netcat user what they will see."""
        self.send(self.decoder.offer_echo() if hidden else self.decoder.withdraw_echo())

    def close(self, goodbye: Goodbye, notice: bytes | str | None, detail: str = "") -> None:
        transport = self.transport
        if transport is None or self.closing or transport.is_closing():
            return
        self.closing = True
        self._stop_waiting()
        last = self.outbox.take()
        self.outbox.discard()
        if isinstance(notice, bytes):
            last += notice
        if last:
            transport.write(last)
        close_softly(transport, lambda: self.lost)


class ProxyPreamble(asyncio.Protocol):
    """A new connection on a port behind a PROXY-protocol proxy: reads the header, then hands the
    connection to a ``TcpClient`` speaking for the client the header names.

    Only a trusted proxy's header is believed (``CHAT_PROXY_ALLOW_IPS``): any other peer is refused
    before a byte is read, as is a missing, slow or malformed header, with one clear line; the room
    never sees them. Until the header is in, the connection is an unfinished handshake in the
    hub's pool (first bytes within ``CHAT_HANDSHAKE_START``, the header within
    ``CHAT_HANDSHAKE_FINISH``). A header in which the proxy speaks for itself (``LOCAL``,
    ``UNKNOWN``: its health check) is answered with one line and closed: it exempts nobody from
    any limit, because it never becomes a client."""

    def __init__(self, client: TcpClient, proxies: Networks, finish: float) -> None:
        self.client = client
        self.proxies = proxies
        self.finish = finish
        self.reader = ProxyHeaderReader()
        self.transport: asyncio.Transport | None = None
        self.handshake: Handshake | None = None
        """Its place among unfinished handshakes: kept until the header is in, or until a refused
        connection is gone (its descriptor is held as long as it lingers to read its line)."""
        self.refused = False
        self.lost = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        tune(self.transport)
        peer = peer_of(transport)
        started = self.client.hub.handshake_started(Gateway.TELNET, peer, self.finish, self._cut)
        if isinstance(started, Refusal):
            self.transport.write(f"! {started.line()}\r\n".encode())
            self.transport.close()
            return
        self.handshake = started
        if not self.proxies.admits(peer):
            self._refuse(f"{peer} is not a trusted proxy (CHAT_PROXY_ALLOW_IPS)")

    def data_received(self, data: bytes) -> None:
        transport, handshake = self.transport, self.handshake
        if transport is None or handshake is None or self.refused:
            return
        handshake.progressed()
        try:
            parsed = self.reader.feed(data)
        except ProxyHeaderError as problem:
            self._refuse(str(problem))
            return
        if parsed is None:
            return
        handshake.finished()
        header, rest = parsed
        if header.source is None:
            transport.write(HEALTHY)
            transport.close()
            return
        client = self.client
        transport.set_protocol(client)
        client.admit(transport, header.source, budget_key(header.source, direct=False))
        if rest and not transport.is_closing():
            client.data_received(rest)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if self.handshake is not None:
            self.handshake.abandoned()

    def _cut(self, ending: Ending) -> None:
        """The pool ended the handshake. Only a slow header lingers to read its line: one cut for
        silence left nothing unread, and one shed for a newcomer (or already refused) gives its
        descriptor back at once, as the pool no longer counts it."""
        transport = self.transport
        if transport is None:
            return
        if ending is Ending.TOO_SLOW and not self.refused:
            self._refuse(f"PROXY protocol header not complete within {self.finish:g} s")
        elif self.refused or ending is Ending.CROWDED_OUT:
            reset(transport, lambda: self.lost)
        else:
            self.refused = True
            transport.write(f"! {_refused('no PROXY protocol header in time')}\r\n".encode())
            transport.close()

    def _refuse(self, reason: str) -> None:
        transport = self.transport
        if transport is None or self.refused:
            return
        self.refused = True
        log.warning("refused a TCP connection from %s: %s", peer_of(transport), reason)
        transport.write(f"! {_refused(reason)}\r\n".encode())
        close_softly(transport, lambda: self.lost)


def _refused(reason: str) -> str:
    return Goodbye.REFUSED.line(f"{reason}; this port takes connections through a PROXY protocol proxy")


def line_too_long(hub: Hub, client: Client, limit: int) -> None:
    """Tell a line-mode client its line was skipped as too long (any door that reads lines): refused
    input, which costs its sender (see ``Hub.refuse``)."""
    hub.refuse(client, f"Line too long: not sent (the limit is {limit} bytes)", "too_long")


def charge_noise(hub: Hub, client: Client, decoder: telnet.LineDecoder) -> None:
    """Make a line-door client pay for what its decoder read that said nothing (any door that
    reads lines): surplus negotiation is a strike each, noise draws on an allowance of its own
    (strikes beyond it), so a client that keeps sending either is cut as a flooder."""
    surplus, decoder.surplus = decoder.surplus, 0
    while surplus and client.id in hub.clients:  # each is a strike: a flood of them ends in a goodbye
        hub.refuse(client)
        surplus -= 1
    noise, decoder.noise = decoder.noise, 0
    if noise:
        hub.noise(client, noise)


def tune(transport: asyncio.Transport) -> None:
    """Lines go out at once (no Nagle), and a vanished peer is noticed (see KEEPALIVE)."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
        for option, value in KEEPALIVE.items():
            if hasattr(socket, option):  # Linux names; other systems keep their defaults
                sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)


def peer_of(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return peer[0] if peer else ""


class TcpGateway:
    """The listening socket; started and stopped by the app's lifespan."""

    def __init__(self, hub: Hub, flusher: Flusher, laggards: Laggards, settings: Settings) -> None:
        self.hub = hub
        self.channel = Channel(TELNET, laggards, flusher, settings.tcp_replay)
        hub.channels.append(self.channel)
        self.max_line = settings.tcp_max_line
        self.quiet_grace = settings.quiet_grace
        self.proxy_protocol = settings.tcp_proxy_protocol
        self.proxies = settings.proxy_allow
        self.header_finish = settings.handshake_finish
        self.idle_ping = IdlePing(hub, self.channel, settings.tcp_idle_ping, settings.tcp_idle_line)
        self.server: asyncio.Server | None = None

    def _accept(self) -> asyncio.Protocol:
        client = TcpClient(self.hub, self.channel, self.max_line, self.quiet_grace)
        return ProxyPreamble(client, self.proxies, self.header_finish) if self.proxy_protocol else client

    async def start(self, host: str, port: int, reuse_port: bool = False, backlog: int = 1024) -> None:
        """Bind and listen; a port already taken raises OSError (start-up fails loudly).
        With ``reuse_port``, several processes may listen on one port and the kernel spreads
        new connections over them (SO_REUSEPORT, Linux and BSD)."""
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            self._accept,
            host=host or None,
            port=port,
            reuse_address=True,
            reuse_port=reuse_port or None,
            backlog=backlog,
        )
        bound = ", ".join(f"{s.getsockname()[0]}:{s.getsockname()[1]}" for s in self.server.sockets)
        log.info("TCP gateway listening on %s%s", bound, " (PROXY protocol)" if self.proxy_protocol else "")
        self.idle_ping.start()

    def stop_accepting(self) -> None:
        self.idle_ping.stop()
        if self.server is not None:
            self.server.close()

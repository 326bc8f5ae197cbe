"""The TCP gateway: telnet and netcat users, one line per message.

A plain ``asyncio.Protocol`` per connection (no stream reader, no task): an idle user costs
one small object. Input goes through the line decoder to the hub; output leaves through the
client's outbox, written once per loop turn and paused while the kernel buffer is full.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from typing import cast

from app.codecs import telnet
from app.codecs.lines import NOT_ECHOED
from app.codecs.proxy_protocol import ProxyHeaderError, ProxyHeaderReader
from app.config import Settings
from app.domain.addresses import budget_key
from app.domain.events import Event, Gateway
from app.domain.goodbye import Goodbye
from app.fanout import Channel, Flusher, Outbox, runs
from app.gateways.buffered import BufferedProtocol
from app.gateways.closing import close_softly
from app.gateways.idle_ping import IdlePing
from app.gateways.pacing import PacedInput, sliced
from app.hub import Client, Hub
from app.laggards import Laggards

log = logging.getLogger("app.tcp")

KEEPALIVE = {"TCP_KEEPIDLE": 60, "TCP_KEEPINTVL": 15, "TCP_KEEPCNT": 4}
"""Probe a connection idle for a minute, every 15 s, and give up after 4 unanswered probes: a
vanished peer is noticed within about two minutes instead of the kernel's default two hours.
A live peer's kernel answers the probes, so an idle but connected user is never cut."""

PROXY_HEADER_TIMEOUT = 5.0
"""Seconds a connection to a PROXY-protocol port has to send its header (a proxy sends it at once)."""

NOT_HTTP = "This port speaks plain text lines (telnet, netcat), not HTTP: open the chat page on the web port"
NOT_TLS = "This port speaks plain text lines (telnet, netcat), not TLS: connect with telnet or nc, without TLS"


def is_tls_hello(data: bytes) -> bool:
    """True when a connection opens with a TLS record header: a handshake record (0x16) of TLS
    or SSL 3 (version 3.0 to 3.4). A TLS client pointed at the plain port sends this first."""
    return len(data) >= 3 and data[0] == 0x16 and data[1] == 0x03 and data[2] <= 0x04


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
        "hub",
        "id",
        "input_after_close",
        "lost",
        "outbox",
        "transport",
        "waiting",
    )

    gateway = Gateway.TELNET
    codec = TELNET
    key_fingerprint: str | None = None  # only the SSH door knows its users by key

    def __init__(self, hub: Hub, channel: Channel[bytes], max_line: int) -> None:
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
        self.waiting = None
        self.input_after_close = 0

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport = cast(asyncio.Transport, transport)  # uvloop's transports do not subclass asyncio's
        tune(transport)
        address = peer_of(transport)
        self.admit(transport, address, self.hub.budget(address))

    def admit(self, transport: asyncio.Transport, address: str, budget: str | None) -> None:
        """Join the room as ``address`` (the peer's, or the one a PROXY header named), or be refused."""
        self.transport = transport
        self.address, self.budget = address, budget
        refusal = self.hub.refusal(budget)
        if refusal is not None:
            transport.write(f"! {refusal.line()}\r\n".encode())
            transport.close()
            return
        self.hub.connect(self)

    def data_received(self, data: bytes) -> None:
        if self.closing:
            self.cut_if_still_sending(data)  # until the peer lets go, what it sends is not even decoded
            return
        if self.first_line and is_tls_hello(data):
            self._refuse_first(NOT_TLS, "TLS on the plain chat port")
            return
        self.take_input(sliced(self.decoder.feed, data))

    def take_input(self, items: Iterator[object]) -> None:
        super().take_input(items)
        surplus, self.decoder.surplus = self.decoder.surplus, 0
        while surplus and not self.closing:  # each is a strike: a flood of them ends in a goodbye
            self.hub.refuse(self)
            surplus -= 1

    def handle(self, item: object) -> bool:
        if self.closing:
            return False
        if type(item) is str:
            if self.first_line and telnet.is_http_request(item):
                self._refuse_first(NOT_HTTP, "HTTP request on the chat port")
                return False
            self.first_line = False
            self.hub.receive(self, item)
        elif type(item) is bytes:
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
        """Someone spoke another protocol to this port: say so in plain text, and hang up."""
        self.hub.error(self, answer, "refused")
        self.hub.drop(self, Goodbye.REFUSED, reason)

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
        last = self.outbox.take()
        self.outbox.discard()
        if isinstance(notice, bytes):
            last += notice
        if last:
            transport.write(last)
        close_softly(transport, lambda: self.lost)


class ProxyPreamble(asyncio.Protocol):
    """A new connection on a port behind a PROXY-protocol proxy: reads the header, then hands the
    connection to a ``TcpClient`` speaking for the client the header names. A missing, slow or
    malformed header gets one clear line and the connection is closed; the room never sees it."""

    def __init__(self, client: TcpClient) -> None:
        self.client = client
        self.reader = ProxyHeaderReader()
        self.transport: asyncio.Transport | None = None
        self.deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        tune(self.transport)
        loop = asyncio.get_running_loop()
        self.deadline = loop.call_later(PROXY_HEADER_TIMEOUT, self._refuse, "no PROXY protocol header in time")

    def data_received(self, data: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        try:
            parsed = self.reader.feed(data)
        except ProxyHeaderError as problem:
            self._refuse(str(problem))
            return
        if parsed is None:
            return
        self._stop_clock()
        header, rest = parsed
        client = self.client
        transport.set_protocol(client)
        if header.source is None:  # the proxy speaks for itself (a health check): it is never counted
            peer = peer_of(transport)
            client.admit(transport, peer, budget_key(peer, direct=True, proxy_peer=True))
        else:
            client.admit(transport, header.source, budget_key(header.source, direct=False))
        if rest and not transport.is_closing():
            client.data_received(rest)

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()

    def _refuse(self, reason: str) -> None:
        self._stop_clock()
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        log.warning("refused a TCP connection from %s: %s", peer_of(transport), reason)
        line = Goodbye.REFUSED.line(f"{reason}; this port takes connections through a PROXY protocol proxy")
        transport.write(f"! {line}\r\n".encode())
        transport.close()

    def _stop_clock(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None


def line_too_long(hub: Hub, client: Client, limit: int) -> None:
    """Tell a line-mode client its line was skipped as too long (any door that reads lines): refused
    input, which costs its sender (see ``Hub.refuse``)."""
    hub.refuse(client, f"Line too long: not sent (the limit is {limit} bytes)", "too_long")


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
        self.proxy_protocol = settings.tcp_proxy_protocol
        self.idle_ping = IdlePing(hub, self.channel, settings.tcp_idle_ping, settings.tcp_idle_line)
        self.server: asyncio.Server | None = None

    def _accept(self) -> asyncio.Protocol:
        client = TcpClient(self.hub, self.channel, self.max_line)
        return ProxyPreamble(client) if self.proxy_protocol else client

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

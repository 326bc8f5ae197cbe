"""Where the server touches uvicorn beyond its documented settings: every such name is here.

uvicorn documents its settings (``uvicorn.Config``) and ``uvicorn.Server(config).serve()``.
What it does not document, and we rely on for ``python -m app``:

- the ``ws`` setting is *called* once per upgrade request, like a protocol class, with the
  keyword arguments ``config=``, ``server_state=`` and ``app_state=``; the protocol then gets
  ``connection_made(transport)`` and the request's head (re-serialised, ending in a blank line)
  in one ``data_received`` call;
- ``server_state.connections`` is the set its graceful shutdown calls ``shutdown()`` on, and
  waits to see emptied, so a protocol of ours joins it while open;
- ``Server.startup(sockets)`` and ``Server.shutdown(sockets)`` are the steps of ``serve``: we
  extend them to freeze what start-up built, and to say goodbye to chat clients before uvicorn
  closes connections;
- the ``http`` setting is called the same way, and ``GuardedHttp`` subclasses the protocol its
  ``"auto"`` value names (``uvicorn.protocols.http.auto.AutoHTTPProtocol``: httptools, or h11
  without it), relying on its ``transport`` attribute (set in ``connection_made``) and on
  ``data_received`` and ``connection_lost`` being where bytes and the end arrive.

tests/unit/test_uvicorn_contact.py (the canary) checks each of these against the installed
uvicorn and names what changed when one breaks. ``server_config`` is the one place the uvicorn
configuration is built.

**What uvicorn does not bound before a request head has arrived.** It waits for a head as long
as the client cares to take (one byte a second holds a socket forever: slowloris), reads
headers of any size with its fast parser (httptools), and counts no connection against any cap
until it is a WebSocket. ``GuardedHttp`` adds the bounds:

- a connection's first request head is a handshake like any door's (``Hub.handshake_started``,
  see ``app.hub.handshakes``): its first bytes within ``CHAT_HANDSHAKE_START`` seconds and the whole
  head within ``CHAT_HTTP_HEAD_TIMEOUT`` of connecting, else ``408``; it counts toward the
  server's total and per-address caps until the head is in, and may be shed for a newer one
  when they are reached (``503``);
- a connection kept alive after a response (``on_response_complete``, which both of uvicorn's
  HTTP protocols call when a response is written, and their ``cycle.response_complete``, false
  while a pipelined request is answered) waits for its next head in the pool like a new one,
  with the same deadlines; idle past the start deadline, or shed, it is closed without a word;
- a later head that starts while a response is under way (pipelined) has ``CHAT_HTTP_HEAD_TIMEOUT``
  from its first byte;
- a head over ``MAX_HEAD`` bytes is answered ``431`` and the connection closed, never buffered
  (uvicorn's h11 gets the same bound through its documented ``h11_max_incomplete_event_size``).

The WebSocket door answers the handshake as soon as its head is in, so the head deadline is the
handshake's too.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import re
import socket
from collections.abc import Callable, MutableSet
from http import HTTPStatus
from typing import Any, Protocol

import uvicorn
from uvicorn.protocols.http.auto import AutoHTTPProtocol

from app.config import Settings
from app.domain.events import Gateway
from app.domain.goodbye import Refusal
from app.gateways.closing import close_softly
from app.hub.handshakes import Ending, Handshake

Connections = MutableSet[Any]
"""uvicorn's set of open connections (``server_state.connections``)."""


class WebSocketDoorFactory:
    """What ``uvicorn.Config(ws=...)`` is given: uvicorn calls it like a protocol class for each
    upgrade request; it builds our own protocol, which joins uvicorn's set of connections."""

    def __init__(self, build: Callable[[Connections], asyncio.Protocol]) -> None:
        self.build = build

    def __call__(self, *, server_state: Any, **_other_settings: Any) -> asyncio.Protocol:
        return self.build(server_state.connections)


class ChatServer(uvicorn.Server):
    """uvicorn's server, with the chat service's start and goodbye around its own steps."""

    def __init__(self, config: uvicorn.Config, start: Callable[[], Any], goodbye: Callable[[], None]) -> None:
        """``start`` is awaited before uvicorn's start-up (so a refusal ends start-up with one line
        instead of a logged traceback); ``goodbye`` runs as shutdown begins, before uvicorn
        closes connections (so every client hears why)."""
        super().__init__(config)
        self._start = start
        self._goodbye = goodbye

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        await self._start()
        await super().serve(sockets)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # What start-up built (modules, app, routes) lives as long as the process: keep the
        # collector from walking it again on every full collection among thousands of connections.
        gc.freeze()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self._goodbye()
        await super().shutdown(sockets)


MAX_HEAD = 16 * 1024
"""Request line and headers: a browser's are a few KiB, cookies included."""

_HEAD_END = re.compile(rb"\n\r?\n")


class RequestAdmission(Protocol):
    """Where unfinished requests are counted (the hub)."""

    def handshake_started(
        self, door: Gateway, peer: str, finish: float, cut: Callable[[Ending], None]
    ) -> Handshake | Refusal: ...


_CUT = {
    Ending.SILENT: (HTTPStatus.REQUEST_TIMEOUT, "No request started within {start:g} s"),
    Ending.TOO_SLOW: (HTTPStatus.REQUEST_TIMEOUT, "Request head not complete within {head:g} s"),
    Ending.CROWDED_OUT: (HTTPStatus.SERVICE_UNAVAILABLE, "Server busy: too many connections opening at once, retry"),
}
"""What a client hears when the handshake pool ends its first request head."""


class GuardedHttp(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol (httptools, or h11 without it) with a deadline, a size cap and a
    place in the connection caps for each request head."""

    def __init__(
        self, *args: Any, requests: RequestAdmission, head_timeout: float, start_timeout: float, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.requests = requests
        self.head_timeout = head_timeout
        self.start_timeout = start_timeout
        self.handshake: Handshake | None = None  # while a head is awaited or unfinished: its place in the pool
        self.kept_alive = False  # served a response and kept open: a quiet end needs no answer
        self.head_size = 0  # bytes of the head in progress
        self.deadline: asyncio.TimerHandle | None = None  # set while a head is in progress
        self.tail = b""  # the end of what came so far, for a blank line split between two reads
        self.answered = False  # the guard has answered and is closing: what still comes is not read
        self.gone = False  # the connection is lost (a late reset must not touch a reused socket)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._await_head()

    def on_response_complete(self) -> None:
        """A response is written. A connection kept alive for another request then waits for its
        head in the pool, as a new connection does for its first: else a flood of connections,
        each after one quick request, would hold every descriptor while counted nowhere."""
        super().on_response_complete()
        transport = self.transport
        if self.answered or self.gone or transport is None or transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a pipelined request is being answered: its head is in already
        self.kept_alive = True
        self._await_head()

    def _await_head(self) -> None:
        transport = self.transport
        peer = transport.get_extra_info("peername")  # the socket's own: no header is read, let alone trusted, yet
        started = self.requests.handshake_started(
            Gateway.WEB, peer[0] if isinstance(peer, tuple) else "", self.head_timeout, self._cut
        )
        if isinstance(started, Refusal):
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, started.line())
            return
        self.handshake = started

    def data_received(self, data: bytes) -> None:
        if self.answered:
            return
        if self.handshake is not None:
            self.handshake.progressed()
        elif self.deadline is None:
            self._start_head()  # the next request on a kept-alive connection
        window = self.tail + data
        end = _HEAD_END.search(window)
        if end is None:
            self.head_size += len(data)
            self.tail = window[-2:]
            if self.head_size > MAX_HEAD:
                self._answer(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"Request head over {MAX_HEAD} bytes")
                return
        elif self.head_size + end.end() - len(self.tail) > MAX_HEAD:
            self._answer(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, f"Request head over {MAX_HEAD} bytes")
            return
        else:
            self._head_arrived()
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.gone = True
        self._head_arrived()
        super().connection_lost(exc)

    def _start_head(self) -> None:
        self.head_size, self.tail = 0, b""
        self.deadline = asyncio.get_running_loop().call_later(self.head_timeout, self._too_slow)

    def _head_arrived(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None
        handshake, self.handshake = self.handshake, None
        if handshake is not None:
            handshake.finished()

    def _too_slow(self) -> None:
        self.deadline = None
        self._cut(Ending.TOO_SLOW)

    def _cut(self, ending: Ending) -> None:
        """The handshake pool ended the first head. Only a slow head lingers to read its answer: one
        cut for silence left nothing unread, and one shed for a newcomer gives its descriptor back
        at once (lingering, out of the pool's count, would let a flood hold descriptors again)."""
        if self.kept_alive and ending is not Ending.TOO_SLOW and self.transport is not None:
            self.answered = True  # an idle kept-alive connection is closed without a word, as HTTP allows
            self.transport.close()
            return
        status, text = _CUT[ending]
        self._answer(status, text.format(start=self.start_timeout, head=self.head_timeout), ending is Ending.TOO_SLOW)

    def _answer(self, status: HTTPStatus, text: str, softly: bool = True) -> None:
        """Answer with an error of our own (uvicorn has not parsed a request to answer) and close:
        ``softly``, so that the answer is not lost to a reset while the client is still sending, and
        reading no more of what it sends meanwhile; else at once."""
        self._head_arrived()
        transport = self.transport
        if self.answered or transport is None or transport.is_closing():
            return
        self.answered = True
        body = f"{text}\n".encode()
        transport.write(
            f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: text/plain; charset=utf-8\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        transport.pause_reading()
        if softly:
            close_softly(transport, lambda: self.gone)
        else:
            transport.close()


def server_config(
    app: Any, settings: Settings, ws: WebSocketDoorFactory, backlog: int, requests: RequestAdmission
) -> uvicorn.Config:
    """uvicorn's settings for ``python -m app``: our WebSocket door, request heads guarded (their
    unfinished ones counted by ``requests``), proxy headers, a graceful shutdown bounded by
    CHAT_GRACEFUL_TIMEOUT, and an accept queue sized by the open-file limit."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=functools.partial(  # type: ignore[arg-type]
            GuardedHttp,
            requests=requests,
            head_timeout=settings.http_head_timeout,
            start_timeout=settings.handshake_start,
        ),
        h11_max_incomplete_event_size=MAX_HEAD,
        ws=ws,  # type: ignore[arg-type]  # a factory called like a class; see the module docstring
        proxy_headers=True,
        forwarded_allow_ips=settings.forwarded_allow_ips,
        timeout_graceful_shutdown=settings.graceful_timeout,
        lifespan="on",
        backlog=backlog,
        log_level=settings.log_level,
        access_log=settings.log_level == "debug",
    )

"""What uvicorn does not bound on an HTTP connection before its request head has arrived.

uvicorn waits for a request head as long as the client cares to take (one byte a second holds a
socket forever: slowloris), reads headers of any size with its fast parser (httptools), and
counts no connection against any cap until it is a WebSocket. ``GuardedHttp`` is uvicorn's own
protocol with those three bounds added:

- a request head must arrive within ``head_timeout`` seconds of its first byte (of the
  connection, for the first request): otherwise ``408`` and the connection is closed;
- a head over ``MAX_HEAD`` bytes is answered ``431`` and the connection closed, never buffered;
- while its first head is unfinished, a connection counts toward the server's total and the
  per-address cap as a chat client does (``Hub.request_started``); beyond them it gets ``503``.

The WebSocket handshake is answered as soon as its head is in, so the head deadline is the
handshake's too.
"""

from __future__ import annotations

import asyncio
import re
from http import HTTPStatus
from typing import Any, Protocol

from uvicorn.protocols.http.auto import AutoHTTPProtocol

from app.domain.goodbye import Refusal
from app.gateways.closing import close_softly

MAX_HEAD = 16 * 1024
"""Request line and headers: a browser's are a few KiB, cookies included."""

_HEAD_END = re.compile(rb"\n\r?\n")


class RequestAdmission(Protocol):
    """Where unfinished requests are counted (the hub)."""

    def request_started(self, address: str) -> Refusal | None: ...

    def request_ended(self, address: str) -> None: ...


class GuardedHttp(AutoHTTPProtocol):  # type: ignore[misc, valid-type]
    """uvicorn's HTTP protocol (httptools, or h11 without it) with a deadline, a size cap and a
    place in the connection caps for each request head."""

    def __init__(self, *args: Any, hub: RequestAdmission, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.hub = hub
        self.head_timeout = head_timeout
        self.peer = ""  # the socket's own peer: headers cannot be read, let alone trusted, yet
        self.counted = False  # this connection's first head is unfinished and counted in the caps
        self.head_size = 0  # bytes of the head in progress
        self.deadline: asyncio.TimerHandle | None = None  # set while a head is in progress
        self.tail = b""  # the end of what came so far, for a blank line split between two reads
        self.answered = False  # the guard has answered and is closing: what still comes is not read
        self.gone = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if isinstance(peer, tuple) else ""
        refusal = self.hub.request_started(self.peer)
        if refusal is not None:
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, refusal.line())
            return
        self.counted = True
        self._start_head()

    def data_received(self, data: bytes) -> None:
        if self.answered:
            return
        if self.deadline is None:
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
        if self.counted:
            self.counted = False
            self.hub.request_ended(self.peer)

    def _too_slow(self) -> None:
        self.deadline = None
        self._answer(HTTPStatus.REQUEST_TIMEOUT, f"Request head not complete within {self.head_timeout:g} s")

    def _answer(self, status: HTTPStatus, text: str) -> None:
        """Answer with an error of our own (uvicorn has not parsed a request to answer) and close:
        softly, so that the answer is not lost to a reset while the client is still sending, and
        reading no more of what it sends meanwhile."""
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
        close_softly(transport, lambda: self.gone)

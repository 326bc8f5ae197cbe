"""The TCP line codec: bytes in, clean input lines out; events out as CRLF-terminated bytes.

The decoder is a small state machine fed whatever ``recv`` returned. It strips telnet IAC
commands (including subnegotiations, whose length is capped), splits on LF (CR LF and bare LF
both end a line), replaces invalid UTF-8, and never holds more than ``max_line`` bytes of an
unfinished line: a longer line is reported once as ``OVERLONG`` and skipped to its end.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import IntEnum

from app.codecs.lines import format_lines
from app.domain.events import Event

IAC, SE, SB, WILL, DONT = 255, 240, 250, 251, 254
MAX_SUBNEGOTIATION = 256

OVERLONG = object()
"""Yielded in place of a line that exceeded the limit (its bytes are discarded, not buffered)."""

_HTTP_REQUEST_LINE = re.compile(r"[A-Z]{3,7} \S+ HTTP/\d(?:\.\d)?")


def is_http_request(line: str) -> bool:
    """True for an HTTP request line: a browser or HTTP client pointed at the TCP port."""
    return _HTTP_REQUEST_LINE.fullmatch(line.strip()) is not None


class _State(IntEnum):
    DATA = 0
    IAC = 1
    OPTION = 2  # after WILL/WONT/DO/DONT: one option byte follows
    SUB = 3  # inside IAC SB ... IAC SE
    SUB_IAC = 4


class LineDecoder:
    """Turns a TCP byte stream into lines of text. One instance per connection."""

    __slots__ = ("_buffer", "_discarding", "_state", "_sub_length", "max_line", "spoke_telnet")

    def __init__(self, max_line: int = 8192) -> None:
        self.max_line = max_line
        self.spoke_telnet = False
        """The client sent a telnet command: it is a telnet client, for which IAC bytes are invisible."""
        self._buffer = bytearray()
        self._state = _State.DATA
        self._sub_length = 0
        self._discarding = False

    def feed(self, data: bytes) -> Iterator[str | object]:
        """Yield each complete line (str, without its line ending) or OVERLONG."""
        if self._state is _State.DATA and IAC not in data:
            yield from self._lines(data)
            return
        yield from self._lines(self._strip_telnet(data))

    def _strip_telnet(self, data: bytes) -> bytes:
        out = bytearray()
        state = self._state
        for byte in data:
            if state is _State.DATA:
                if byte == IAC:
                    state = _State.IAC
                else:
                    out.append(byte)
            elif state is _State.IAC:
                if byte == IAC:
                    out.append(byte)  # escaped 0xFF: a data byte (invalid UTF-8, replaced later)
                    state = _State.DATA
                    continue
                self.spoke_telnet = True
                if WILL <= byte <= DONT:
                    state = _State.OPTION
                elif byte == SB:
                    state, self._sub_length = _State.SUB, 0
                else:
                    state = _State.DATA  # two-byte command (NOP, AYT, GA, ...)
            elif state is _State.OPTION:
                state = _State.DATA
            else:
                self._sub_length += 1
                if state is _State.SUB_IAC:
                    state = _State.DATA if byte == SE else _State.SUB
                elif byte == IAC:
                    state = _State.SUB_IAC
                elif self._sub_length > MAX_SUBNEGOTIATION:
                    state = _State.DATA  # an unterminated subnegotiation does not swallow the session
        self._state = state
        return bytes(out)

    def _lines(self, data: bytes) -> Iterator[str | object]:
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            chunk = data[start:end]
            start = end + 1
            if self._discarding:
                self._discarding = False
                self._buffer.clear()
                continue
            if self._buffer:
                self._buffer += chunk
                chunk = bytes(self._buffer)
                self._buffer.clear()
            if chunk.endswith(b"\r"):
                chunk = chunk[:-1]  # the line ending is not part of the line's length
            if len(chunk) > self.max_line:
                yield OVERLONG
                continue
            yield chunk.decode("utf-8", "replace")
        rest = data[start:]
        if self._discarding or not rest:
            return
        if len(self._buffer) + len(rest) > self.max_line + 1:  # + 1: room for the CR of a CR LF
            self._buffer.clear()
            self._discarding = True
            yield OVERLONG
        else:
            self._buffer += rest


def encode_event(event: Event, own: bool = False) -> bytes:
    """An event as the bytes a TCP client receives, CRLF after each line."""
    return "".join(line + "\r\n" for line in format_lines(event, own)).encode()

"""The TCP line codec: bytes in, clean input lines out; events out as CRLF-terminated bytes.

The decoder is a small state machine fed whatever ``recv`` returned. It splits lines at CR LF, LF
or telnet's CR NUL (what character mode sends for Enter), applies the editing keys that
character-at-a-time clients leave to the server (backspace and DEL erase one character, not one
byte; Ctrl-C and Ctrl-U the whole line), replaces invalid UTF-8, and never
holds more than ``max_line`` bytes of an unfinished line: a longer line is reported once as
``Signal.OVERLONG`` and skipped to its end.

Telnet commands (RFC 854) are obeyed, not just stripped:

- ``IP`` and ``BRK`` (what telnet sends for Ctrl-C) discard the line typed so far; ``EC`` and
  ``EL`` erase a character and the line.
- ``AYT`` yields ``Signal.ARE_YOU_THERE`` (the gateway answers ``[yes]``) and ``AO`` yields
  ``Signal.ABORT_OUTPUT`` (the gateway drops the output not yet written).
- ``DO TIMING-MARK`` is answered ``WILL TIMING-MARK`` (RFC 860). telnet sends it after Ctrl-C
  and shows nothing until the answer comes, so the answer is yielded as bytes *in order* with the
  lines: the gateway queues it behind the output those lines caused.
- ``SUPPRESS-GO-AHEAD`` (RFC 858) is agreed to when asked, either way: we never send GA anyway,
  so agreeing is simply true, and it is what lets telnet's ``mode character`` send each key.
- ``ECHO`` is offered only around a password prompt (``offer_echo``/``withdraw_echo``), and the
  client's ``DO``/``DONT ECHO`` taken as its answer then; unasked, it is refused like the rest.
- Every other option is refused: ``WILL x`` gets ``DONT x`` and ``DO x`` gets ``WONT x``.
- Negotiation cannot loop (RFC 1143): a refused option stays "NO", so ``WONT``/``DONT`` (a
  refusal, or the echo of ours) are never answered; SGA's state on each side is kept, and only
  a request that changes it is answered.
- A subnegotiation (``SB ... SE``) is discarded whole: nothing inside it is ever chat. One longer
  than ``MAX_SUBNEGOTIATION`` bytes is garbage, not an option: it is dropped to the end of its
  line, like an overlong line, so a client that never ends one still gets its next line through.

``surplus`` counts the negotiation a client sends beyond a telnet client's ordinary opening:
every option request, subnegotiation or ``AYT`` after the first of its kind. A polite client stays
near zero; the count is what flood control charges to one that is not. ``noise`` counts the
commands that mean nothing to a line reader (``NOP``, ``GA``, ``DM``, unknown ones): a client's
keepalive sends one now and then, a flood sends thousands a read, and flood control charges each
as it would a line.

Negotiation policy. The server never sends a telnet command unprompted, so a netcat user never
sees a stray byte: it only answers what a telnet client asked. A feature that truly needs to ask
(``IAC WILL ECHO`` around a password prompt, so telnet hides what is typed; an idle keepalive)
must first tell the user in plain text what happens, so that a netcat user who sees three odd
bytes knows why (e.g. "your input will show: this client does not hide it").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import Enum, IntEnum

from app.codecs.lines import format_lines
from app.domain.events import Event

IAC, DONT, DO, WONT, WILL, SB = 255, 254, 253, 252, 251, 250
EL, EC, AYT, AO, IP, BRK, SE = 248, 247, 246, 245, 244, 243, 240
TIMING_MARK, SUPPRESS_GO_AHEAD, ECHO = 6, 3, 1
NUL, INTERRUPT, BACKSPACE, LF, CR, KILL_LINE, DEL = 0x00, 0x03, 0x08, 0x0A, 0x0D, 0x15, 0x7F
MAX_SUBNEGOTIATION = 256
DROPPED_NOISE = 64 * 1024
"""Bytes of an overlong line dropped that count as one piece of noise: a long paste costs a line
or two of budget, a line that never ends is a flood."""

ARE_YOU_THERE_ANSWER = b"[yes]\r\n"


class Signal(Enum):
    """What the decoder yields besides lines and the reply bytes it wants sent."""

    OVERLONG = "overlong"  # in place of a line that exceeded the limit (its bytes are discarded)
    ARE_YOU_THERE = "are you there"  # IAC AYT: answer with a short sign of life
    ABORT_OUTPUT = "abort output"  # IAC AO: write nothing more of what is already queued


OVERLONG = Signal.OVERLONG

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

    __slots__ = (
        "_agreed",
        "_buffer",
        "_discarded",
        "_discarding",
        "_echoing",
        "_seen",
        "_state",
        "_sub_length",
        "_verb",
        "max_line",
        "noise",
        "spoke_telnet",
        "surplus",
    )

    def __init__(self, max_line: int = 8192) -> None:
        self.max_line = max_line
        self.spoke_telnet = False  # it sent a telnet command: IAC bytes (an idle ping's NOP) are invisible to it
        self._buffer = bytearray()  # the unfinished line
        self._state = _State.DATA
        self._verb = 0  # the WILL/WONT/DO/DONT whose option byte comes next
        self._sub_length = 0  # bytes of the current subnegotiation so far (counted up to the cap)
        self._discarding = False  # the current line went over the limit: drop it up to its end
        self._discarded = 0  # bytes of that line dropped since the last DROPPED_NOISE of them was noise
        self._agreed = 0  # SGA in force: bit 1 the peer's side (its WILL), bit 2 ours (its DO)
        self._echoing = False  # we offered to echo (WILL ECHO, around a password): its DO ECHO agrees
        self._seen: set[tuple[int, int]] | None = None  # negotiation kinds seen once (made at the first)
        self.surplus = 0  # negotiation beyond the first of each kind, for flood control
        self.noise = 0  # what carries nothing (NOP, erasing nothing, an endless line's tail), for flood control

    def feed(self, data: bytes) -> Iterator[str | bytes | Signal]:
        """Yield, in stream order, each complete line (str, without its line ending), a telnet
        reply to send (bytes) or a Signal."""
        if self._state is _State.DATA and (  # plain text (one memchr per byte value) is split at once
            IAC not in data
            and NUL not in data
            and DEL not in data
            and BACKSPACE not in data
            and INTERRUPT not in data
            and KILL_LINE not in data
        ):
            yield from self._lines(data)
            return
        out: list[str | bytes | Signal] = []
        for byte in data:
            self._byte(byte, out)
        yield from out

    # -- byte by byte: telnet commands and editing keys ----------------------------------------

    def _byte(self, byte: int, out: list[str | bytes | Signal]) -> None:
        state = self._state
        if state is _State.DATA:
            if byte == IAC:
                self._state = _State.IAC
            elif byte == LF or (byte == NUL and self._buffer.endswith(b"\r")):
                self._end_line(out)  # CR LF, LF, or telnet's CR NUL (character mode's Enter)
            elif byte in (BACKSPACE, DEL):
                self._erase_character()
            elif byte in (INTERRUPT, KILL_LINE):
                self._erase_line()  # Ctrl-C, Ctrl-U, as character mode sends them
            else:
                self._add(byte, out)
        elif state is _State.IAC:
            self._state = _State.DATA
            if byte != IAC:
                self.spoke_telnet = True
            if byte == IAC:
                self._add(byte, out)  # escaped 0xFF: a data byte (invalid UTF-8, replaced later)
            elif WILL <= byte <= DONT:
                self._state, self._verb = _State.OPTION, byte
            elif byte == SB:
                self._state, self._sub_length = _State.SUB, 0
                self._count((SB, 0))
            else:
                self._command(byte, out)
        elif state is _State.OPTION:
            self._state = _State.DATA
            self._negotiate(self._verb, byte, out)
        elif state is _State.SUB_IAC:
            self._state = _State.DATA if byte == SE else _State.SUB
        elif byte == IAC:
            self._state = _State.SUB_IAC
        elif self._sub_length < MAX_SUBNEGOTIATION:
            self._sub_length += 1
        else:  # longer than any real option's: garbage, dropped with the rest of its line
            self._state = _State.DATA
            self._discard()
            self._buffer.clear()
            self.surplus += 1
            self._byte(byte, out)

    def _command(self, command: int, out: list[str | bytes | Signal]) -> None:
        """A two-byte command; NOP, GA, DM and the like mean nothing to a line reader."""
        if command in (IP, BRK, EL):
            self._erase_line()
        elif command == EC:
            self._erase_character()
        elif command == AYT:
            self._count((AYT, 0))
            out.append(Signal.ARE_YOU_THERE)
        elif command == AO:
            out.append(Signal.ABORT_OUTPUT)
        else:
            self.noise += 1

    def offer_echo(self) -> bytes:
        """``IAC WILL ECHO``: a telnet client stops echoing what is typed (we echo nothing either)."""
        self._echoing = True
        return bytes((IAC, WILL, ECHO))

    def withdraw_echo(self) -> bytes:
        """``IAC WONT ECHO``: the client echoes locally again."""
        self._echoing = False
        return bytes((IAC, WONT, ECHO))

    def _negotiate(self, verb: int, option: int, out: list[str | bytes | Signal]) -> None:
        self._count((verb, option))
        if option == ECHO and self._echoing and verb in (DO, DONT):
            return  # the answer to our offer (or to its withdrawal): agreed, nothing to say
        if option == SUPPRESS_GO_AHEAD:
            self._suppress_go_ahead(verb, out)
        elif verb == DO:
            answer = WILL if option == TIMING_MARK else WONT
            out.append(bytes((IAC, answer, option)))
        elif verb == WILL:
            out.append(bytes((IAC, DONT, option)))
        # WONT and DONT agree with the "NO" every other option is kept in: nothing to answer

    def _suppress_go_ahead(self, verb: int, out: list[str | bytes | Signal]) -> None:
        """Agree to SGA either way; answer only what changes its state (RFC 1143: no loops)."""
        peers = verb in (WILL, WONT)  # about the peer's side (its WILL) or ours (its DO)
        bit = 1 if peers else 2
        wanted = verb in (WILL, DO)
        if wanted == bool(self._agreed & bit):
            return  # already so: an acknowledgement, not a request
        self._agreed ^= bit
        if wanted:
            out.append(bytes((IAC, DO if peers else WILL, SUPPRESS_GO_AHEAD)))
        else:
            out.append(bytes((IAC, DONT if peers else WONT, SUPPRESS_GO_AHEAD)))

    def _count(self, kind: tuple[int, int]) -> None:
        seen = self._seen
        if seen is None:
            seen = self._seen = set()
        if kind in seen:
            self.surplus += 1
        elif len(seen) < 64:  # a client cycling through every option is surplus too
            seen.add(kind)
        else:
            self.surplus += 1

    def _add(self, byte: int, out: list[str | bytes | Signal]) -> None:
        if self._discarding:
            self._buffer[:] = b"\r" if byte == CR else b""  # only a CR is kept: a NUL after it ends the line
            self._dropped(1)
            return
        buffer = self._buffer
        buffer.append(byte)
        if len(buffer) > self.max_line + 1:  # + 1: room for the CR of a CR LF
            buffer.clear()
            self._discard()
            out.append(OVERLONG)

    def _discard(self) -> None:
        """The line went over the limit: drop it up to its end."""
        self._discarding, self._discarded = True, 0

    def _dropped(self, size: int) -> None:
        """``size`` more bytes of an overlong line dropped: each further ``DROPPED_NOISE`` of them
        is noise, so a line that never ends costs its sender more than its one refusal."""
        self._discarded += size
        if self._discarded >= DROPPED_NOISE:
            self.noise += self._discarded // DROPPED_NOISE
            self._discarded %= DROPPED_NOISE

    def _erase_line(self) -> None:
        if not self._buffer and not self._discarding:
            self.noise += 1  # nothing typed to discard
        self._buffer.clear()
        self._discarding = False  # what follows starts a new line, even after an overlong one

    def _erase_character(self) -> None:
        """Remove the last character of the line: its UTF-8 continuation bytes, then its lead."""
        buffer = self._buffer
        if not buffer:
            self.noise += 1  # nothing to erase
            return
        while buffer and 0x80 <= buffer[-1] < 0xC0:
            buffer.pop()
        if buffer:
            buffer.pop()

    def _end_line(self, out: list[str | bytes | Signal]) -> None:
        if self._discarding:
            self._discarding = False
            self._buffer.clear()
            return
        line = self._finish(bytes(self._buffer))
        self._buffer.clear()
        out.append(line)

    def _finish(self, chunk: bytes) -> str | Signal:
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]  # the line ending is not part of the line's length
        if len(chunk) > self.max_line:
            return OVERLONG
        return chunk.decode("utf-8", "replace")

    # -- the fast path: plain text ---------------------------------------------------------------

    def _lines(self, data: bytes) -> Iterator[str | Signal]:
        start = 0
        while True:
            end = data.find(b"\n", start)
            if end < 0:
                break
            chunk = data[start:end]
            start = end + 1
            if self._discarding:
                self._dropped(len(chunk))
                self._discarding = False
                self._buffer.clear()
                continue
            if self._buffer:
                self._buffer += chunk
                chunk = bytes(self._buffer)
                self._buffer.clear()
            yield self._finish(chunk)
        rest = data[start:]
        if self._discarding:
            self._buffer[:] = b"\r" if rest.endswith(b"\r") else b""  # a NUL next would end the line
            self._dropped(len(rest))
            return
        if not rest:
            return
        excess = len(self._buffer) + len(rest) - (self.max_line + 1)  # + 1: room for the CR of a CR LF
        if excess > 0:
            self._buffer.clear()
            self._discard()
            self._dropped(excess - 1)  # as byte by byte: the first byte over is the one refused
            yield OVERLONG
        else:
            self._buffer += rest


def encode_event(event: Event, own: bool = False) -> bytes:
    """An event as the bytes a TCP client receives, CRLF after each line."""
    return "".join(line + "\r\n" for line in format_lines(event, own)).encode()

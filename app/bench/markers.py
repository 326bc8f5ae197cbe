"""The probe each published message carries: ``BENCH <publisher> <seq> <send time ns>``.

The send time is ``time.monotonic_ns()``, one clock for every process on the machine, padded
to 19 digits so that a marker cut short by the server cannot be misread as a valid one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

MARKER = re.compile(rb"BENCH (\d{1,9}) (\d{1,9}) (\d{19})")
START_ROOM = re.compile(rb"\* You are in (#[A-Za-z0-9_-]+)")
"""The welcome's line naming the room a telnet user starts in."""


def marker(publisher: int, seq: int, sent_ns: int) -> str:
    return f"BENCH {publisher} {seq} {sent_ns:019d}"


def tcp_line(text: str) -> bytes:
    """What a telnet user types: the text and CRLF."""
    return text.encode() + b"\r\n"


def ws_say(text: str) -> bytes:
    """The JSON frame payload the page sends for one message."""
    return json.dumps({"type": "say", "text": text}).encode()


def scan(data: bytes) -> Iterator[tuple[int, int, int]]:
    """Every (publisher, seq, sent_ns) found in ``data``, in order."""
    for pub, seq, sent in MARKER.findall(data):
        yield int(pub), int(seq), int(sent)


def complete_lines(buffer: bytes) -> tuple[bytes, bytes]:
    """Split a TCP byte stream into whole lines to scan and a partial line to keep."""
    cut = buffer.rfind(b"\n") + 1
    return buffer[:cut], buffer[cut:]

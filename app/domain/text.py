"""Text hygiene: what user text may contain before anyone else sees it.

One cleaning for everything a person can make others read: messages, topics, part and quit
reasons, moderation reasons, ban notices, audit records. It is applied where the text enters (the
hub cleans every line before it is routed, the room again, and the domain's values clean what they
are given: announcements, goodbyes, audit records), and again where it is shown (``shown``: for
what was stored before the cleaning covered it, or by another release), so no terminal ever
receives an escape sequence, bell, C1 control, bidi override or line break from another user.
The server's own log writes text ``escaped`` instead: it keeps what was sent, on one line.
"""

from __future__ import annotations

import re

# ESC-introduced sequences are removed whole (not just the ESC) so no "[31m" debris remains:
# CSI (ESC [ ... final byte), OSC/DCS/PM/APC/SOS strings (ended by BEL or ST), and 2-byte escapes.
_ESCAPE_SEQUENCE = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]?"
    r"|\x1b[\]P^_X][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -~]?"
    r"|\x9b[0-?]*[ -/]*[@-~]?"
)
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
"""Every character ``str.splitlines`` ends a line at (terminals honour several): in user text each
becomes a space, so no message can start a line of its own and pass for something else."""
_BLANKS = str.maketrans({"\t": " ", **dict.fromkeys(LINE_BREAKS, " ")})
# C0 controls, DEL, C1 controls, the bidi overrides/isolates and directional marks (LRM, RLM,
# ALM) that reorder text (a classic way to make one nick or line look like another), and lone
# surrogates: a JSON "\ud800" escape decodes to one, and text holding it cannot be encoded as
# UTF-8 for anyone's socket.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Remove escape sequences and control characters, make tabs and line breaks of any kind
    spaces, trim: what user text is once it has entered."""
    return shown(text).strip()


def shown(text: str) -> str:
    """``clean_text`` without the trim: user text as a reader is shown it, whenever it was stored
    (cleaning clean text changes nothing, and the common case costs one ``isprintable``)."""
    if text.isprintable():
        return text
    return _CONTROL.sub("", _ESCAPE_SEQUENCE.sub("", text.translate(_BLANKS)))


def shown_lines(text: str) -> str:
    """A notice of the server's own, which may hold several lines: each line ``shown``."""
    return text if text.isprintable() else "\n".join(shown(line) for line in text.split("\n"))


def escaped(text: str) -> str:
    """``text`` on one line for the server's log, repr-style: every character that is not
    printable (line breaks, escapes, controls, bidi) and the backslash are written as escapes,
    so a reason can neither forge a log line nor hide what it held."""
    if text.isprintable() and "\\" not in text:
        return text
    return "".join(_ESCAPES.get(char) or (char if char.isprintable() else _code(char)) for char in text)


_ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _code(char: str) -> str:
    point = ord(char)
    return f"\\x{point:02x}" if point < 0x100 else f"\\u{point:04x}" if point < 0x10000 else f"\\U{point:08x}"

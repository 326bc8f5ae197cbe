"""Text hygiene: what user text may contain before anyone else sees it.

Everything a user types passes through ``clean_text`` in the room, whichever gateway it came
from, so no terminal ever receives an escape sequence, bell or C1 control from another user.
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
# C0 controls, DEL, C1 controls, the bidi overrides/isolates that reorder text (a classic way
# to make one nick or line look like another), and lone surrogates: a JSON "\ud800" escape
# decodes to one, and text holding it cannot be encoded as UTF-8 for anyone's socket.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Remove escape sequences and control characters, make tabs and line breaks of any kind
    spaces, trim."""
    if text.isprintable():
        return text.strip()
    text = _ESCAPE_SEQUENCE.sub("", text.translate(_BLANKS))
    return _CONTROL.sub("", text).strip()

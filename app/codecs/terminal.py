"""Events as lines for a real terminal (the SSH door): the telnet door's wording, ANSI colours
where the terminal has them, and the reader's own messages shown back.

An SSH session with a pseudo-terminal edits its input line on the server (asyncssh's line
editor): the line typed is taken off the screen when it is sent, and the room shows it back the
way everyone else sees it (``[nick] text``), so the sender's own words are echoed here, unlike on
telnet where the client's local echo already shows them.

Colours: nicks take one of twelve colours chosen by the same hash the page uses (a nick keeps
its colour whatever door the reader came in by); notices are grey or cyan, errors red, a private
message magenta. Only our own escape sequences ever reach the terminal: user text was cleaned of
every control character in the room (``app.domain.text``) before any codec saw it.
"""

from __future__ import annotations

from enum import StrEnum

from app.codecs.lines import format_lines
from app.codecs.pieces import runs
from app.domain.events import Event, Kind

MAX_WRITE = 64 * 1024
"""Bytes in one write: a burst goes out in several pieces, each of whole lines."""

RESET = "\x1b[0m"
NICK_COLOURS = ("31", "32", "33", "34", "35", "36", "91", "92", "93", "94", "95", "96")
"""SGR foreground colours for nicks (the 16-colour set every colour terminal has)."""

COLOUR_TERMINALS = (
    "xterm",
    "screen",
    "tmux",
    "rxvt",
    "linux",
    "ansi",
    "putty",
    "cygwin",
    "konsole",
    "gnome",
    "vte",
    "alacritty",
    "kitty",
    "foot",
    "wezterm",
    "st-",
    "iterm",
)
"""TERM values (prefixes) of terminals that show ANSI colours; ``dumb``, ``vt100`` and the like do not."""


class Style(StrEnum):
    """How a kind of line looks (SGR parameters)."""

    QUIET = "90"  # joins, leaves, nick changes: grey
    NOTICE = "36"  # the server's notices, the welcome, who is here: cyan
    ERROR = "1;31"  # bold red
    PRIVATE = "35"  # magenta
    STAMP = "90"  # the time of replayed history


_STYLES = {
    Kind.JOIN: Style.QUIET,
    Kind.LEAVE: Style.QUIET,
    Kind.NICK: Style.QUIET,
    Kind.ENTER: Style.QUIET,
    Kind.PART: Style.QUIET,
    Kind.PRESENCE: Style.QUIET,
    Kind.SYSTEM: Style.NOTICE,
    Kind.WELCOME: Style.NOTICE,
    Kind.USERS: Style.NOTICE,
    Kind.GAP: Style.NOTICE,
    Kind.ERROR: Style.ERROR,
    Kind.PRIVATE: Style.PRIVATE,
}


def supports_colour(term: str) -> bool:
    """Whether a terminal of this TERM type shows ANSI colours."""
    term = term.lower()
    return "color" in term or "256" in term or term.startswith(COLOUR_TERMINALS)


def nick_colour(nick: str) -> str:
    """The nick's colour: FNV-1a of the lower-cased nick, as the page's ``nickClass`` computes it."""
    value = 2166136261
    for char in nick.lower():
        value = ((value ^ ord(char)) * 16777619) & 0xFFFFFFFF
    return NICK_COLOURS[value % len(NICK_COLOURS)]


def paint(text: str, sgr: str) -> str:
    return f"\x1b[{sgr}m{text}{RESET}"


class TerminalCodec:
    """Events as LF-ended lines for a server-edited terminal (the line editor turns LF into CR LF)."""

    def __init__(self, colour: bool) -> None:
        self.colour = colour

    def encode(self, event: Event, own: bool) -> bytes | None:
        if own and (event.kind is Kind.JOIN or event.kind is Kind.ENTER):
            return None  # the welcome (or the room's own notice) already says so
        lines = format_lines(event, own)
        if self.colour:
            lines = [self._paint(event, line, own) for line in lines]
        return "".join(line + "\n" for line in lines).encode()

    def pack(self, chunks: list[bytes]) -> list[bytes]:
        return runs(chunks, MAX_WRITE)

    def _paint(self, event: Event, line: str, own: bool) -> str:
        stamp = ""
        if event.history:  # "HH:MM " first
            stamp, line = paint(line[:5], Style.STAMP) + " ", line[6:]
        kind = event.kind
        if kind is Kind.MESSAGE or kind is Kind.ACTION:
            nick = event.nick
            coloured = paint(nick, ("1;" if own else "") + nick_colour(nick))
            marker = f"[{nick}]" if kind is Kind.MESSAGE else f"* {nick}"
            return stamp + line.replace(marker, marker.replace(nick, coloured), 1)
        style = _STYLES.get(kind, Style.NOTICE)
        return stamp + paint(line, style)

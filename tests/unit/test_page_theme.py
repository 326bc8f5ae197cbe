"""The page's colours pass WCAG AA (4.5:1 for text) in both themes, nick colours included."""

from __future__ import annotations

import re

import pytest
from support import ROOT

CSS = (ROOT / "static" / "chat.css").read_text()
DARK_START = CSS.index("@media (prefers-color-scheme: dark)")
THEMES = {
    "light": CSS[CSS.index(":root {") : DARK_START],
    "dark": CSS[DARK_START : CSS.index("}\n}", DARK_START)],
}
# (text colour, background it is drawn on)
PAIRS = [
    ("text", "surface"),
    ("text", "own-bg"),
    ("text", "mention-bg"),
    ("text", "private-bg"),
    ("muted", "surface"),
    ("muted", "surface-2"),
    ("muted", "bg"),
    ("muted", "own-bg"),
    ("muted", "private-bg"),
    ("system-text", "surface-2"),
    ("accent", "surface"),
    ("accent-text", "accent"),
    ("error-text", "error-bg"),
    ("private-text", "private-bg"),
    ("web-text", "web-bg"),
    ("telnet-text", "telnet-bg"),
    ("tls-text", "tls-bg"),
    ("ssh-text", "ssh-bg"),
    ("warn", "surface"),
    ("live", "surface"),
] + [(f"n{i}", bg) for i in range(12) for bg in ("surface", "surface-2", "bg", "own-bg", "mention-bg", "private-bg")]


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("theme", THEMES)
def test_text_colours_pass_wcag_aa(theme: str) -> None:
    colours = dict(re.findall(r"--([\w-]+):\s*(#[0-9a-fA-F]{6})\b", THEMES[theme]))
    failing = {
        f"{fg} on {bg}": round(ratio, 2) for fg, bg in PAIRS if (ratio := contrast(colours[fg], colours[bg])) < 4.5
    }
    assert not failing, f"below 4.5:1 in the {theme} theme: {failing}"

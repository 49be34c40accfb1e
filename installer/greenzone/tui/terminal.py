"""What the console can draw: a server's text console (`TERM=linux`) or a terminal without a UTF-8
locale shows most of the wizard's glyphs, and Textual's own (borders, bars, scrollbars, the
header's icon, the palette's search icon), as boxes or garbage.

The wizard keeps its glyphs and, on such a console, the terminal driver writes every screen
through one ASCII table at the output boundary. That catches every glyph, ours and Textual's,
including ones added later, and keeps each cell one cell wide so the layout Textual computed
still lines up. Colours need nothing here: Rich already picks 16 colours for `TERM=linux`.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from textual.driver import Driver

DriverT = TypeVar("DriverT", bound="Driver")

LIMITED_TERMS = frozenset({"linux", "vt100", "vt102", "vt220", "ansi", "cons25", "dumb"})
"""Consoles that draw only ASCII and line-drawing approximations: the Linux and BSD text consoles
and the serial terminals a BMC's serial-over-LAN presents."""

GLYPHS_VAR = "GREENZONE_GLYPHS"
"""`ascii` or `unicode`: what the administrator knows better than the detection (a UTF-8 console
font loaded with `setfont`, or a capable terminal whose TERM was copied from elsewhere)."""

_COERCED = frozenset({"C.UTF-8", "C.utf8", "UTF-8"})
"""What Python itself puts in LC_CTYPE when it starts in the C locale (PEP 538): not the terminal's."""


def limited(env: Mapping[str, str] | None = None) -> bool:
    """True when the console is not known to draw UTF-8: a limited TERM, or a locale whose
    character set is not UTF-8 (the C and POSIX locales included)."""
    env = os.environ if env is None else env
    chosen = env.get(GLYPHS_VAR, "").strip().lower()
    if chosen in ("ascii", "unicode"):
        return chosen == "ascii"
    if env.get("TERM", "").split("-")[0] in LIMITED_TERMS:
        return True
    return not _utf8(_locale(env))


def _locale(env: Mapping[str, str]) -> str:
    """The locale that governs characters, as the C library picks it: LC_ALL, LC_CTYPE, LANG."""
    if env.get("LC_ALL"):
        return env["LC_ALL"]
    ctype = env.get("LC_CTYPE", "")
    if ctype and not (ctype in _COERCED and env.get("LANG", "C") in ("C", "POSIX", "")):
        return ctype
    return env.get("LANG") or "C"


def _utf8(locale: str) -> bool:
    charset = locale.partition(".")[2].partition("@")[0]
    return charset.lower().replace("-", "") == "utf8"


_TABLE = {
    # status and phase marks
    "✔": "+", "✓": "+", "✘": "x", "✗": "x", "▲": "^", "▼": "v", "▶": ">", "■": "#", "○": "o",
    "●": "*", "⭘": "o", "◉": "*", "≡": "=", "·": "-", "•": "*", "…": ".", "↳": ">",
    "›": ">", "‹": "<", "→": ">", "←": "<", "↑": "^", "↓": "v",
    # words and typography
    "—": "-", "–": "-", "“": '"', "”": '"', "‘": "'", "’": "'", "×": "x", "°": "o", "µ": "u",
    # bars and scrollbars (Textual's progress bar, tall borders, scrollbar thumbs)
    "━": "=", "╸": "=", "╺": "=", "─": "-", "▔": " ", "▁": " ", "▂": " ", "▃": " ", "▄": " ",
    "▅": " ", "▆": " ", "▇": " ", "█": " ", "▀": " ", "▐": "|", "▌": "|", "▍": "|", "▎": "|",
    "▏": "|", "▉": "|", "▊": "|", "▋": "|", "▕": "|", "│": "|", "┃": "|", "║": "|", "╏": "|",
    "═": "=", "╍": "-", **dict.fromkeys("▖▗▘▝▙▛▜▟", " "),
    # box corners and joins, light, heavy, double and round
    **dict.fromkeys("┌┐└┘├┤┬┴┼╭╮╯╰┏┓┗┛┣┫┳┻╋╔╗╚╝╠╣╦╩╬", "+"),
    # the command palette's search icon is two cells wide
    "🔎": "> ",
}  # fmt: skip
TABLE = str.maketrans(_TABLE)


def to_ascii(text: str) -> str:
    """`text` with every non-ASCII character replaced, cell for cell: one listed in the table by
    its ASCII stand-in, any other by `?` (`??` for a wide one), so columns stay where they were."""
    text = text.translate(TABLE)
    if text.isascii():
        return text
    return "".join(
        char if char.isascii() else ("??" if unicodedata.east_asian_width(char) in ("W", "F") else "?") for char in text
    )


def ascii_driver(base: type[DriverT]) -> type[DriverT]:
    """`base` (the platform's terminal driver) writing every screen through `to_ascii`."""

    class AsciiDriver(base):  # type: ignore[valid-type,misc]
        def write(self, data: str) -> None:
            super().write(to_ascii(data))

    return AsciiDriver

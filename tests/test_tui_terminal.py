"""The console the wizard finds: which terminals get ASCII, and that the ASCII table covers every
glyph the wizard and Textual draw, cell for cell. The wizard itself on `TERM=linux` is walked in
tmux (test_tui_tmux.py), which shows exactly what reached the terminal."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from rich.cells import cell_len
from textual._border import BORDER_CHARS
from textual.renderables.bar import Bar
from textual.scrollbar import ScrollBarRender
from textual.widgets import Header

from greenzone.tui.terminal import TABLE, limited, to_ascii
from tests.support.paths import REPO

TUI = REPO / "installer" / "greenzone" / "tui"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"TERM": "xterm-256color", "LANG": "en_US.UTF-8"}, False),
        ({"TERM": "linux", "LANG": "en_US.UTF-8"}, True),  # the text console draws few glyphs whatever the locale
        ({"TERM": "vt220", "LANG": "C.UTF-8"}, True),  # a BMC's serial console
        ({"TERM": "xterm", "LANG": "de_DE.ISO-8859-1"}, True),
        ({"TERM": "xterm", "LANG": "C"}, True),
        ({"TERM": "xterm"}, True),  # no locale at all is the C locale
        ({"TERM": "xterm", "LANG": "C", "LC_CTYPE": "C.UTF-8"}, True),  # what Python's PEP 538 coercion leaves
        ({"TERM": "xterm", "LANG": "C", "LC_CTYPE": "en_GB.utf8"}, False),  # a choice, not a coercion
        ({"TERM": "xterm", "LANG": "en_US.UTF-8", "LC_ALL": "POSIX"}, True),  # LC_ALL wins
        ({"TERM": "linux", "GREENZONE_GLYPHS": "unicode"}, False),  # a UTF-8 console font loaded by hand
        ({"TERM": "xterm", "LANG": "C.UTF-8", "GREENZONE_GLYPHS": "ascii"}, True),
    ],
)
def test_which_consoles_get_ascii(env: dict[str, str], expected: bool) -> None:
    assert limited(env) is expected


def _tui_strings() -> set[str]:
    """Every non-ASCII character in a string literal of the wizard's code and stylesheet."""
    chars: set[str] = set()
    for path in TUI.rglob("*.py"):
        if path.name == "terminal.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                chars.update(char for char in node.value if not char.isascii())
    return chars


def _textual_glyphs() -> set[str]:
    chars = {char for rows in BORDER_CHARS.values() for row in rows for char in "".join(row)}
    chars.update(ScrollBarRender.VERTICAL_BARS + ScrollBarRender.HORIZONTAL_BARS)
    chars.update(Bar.HALF_BAR_LEFT + Bar.BAR + Bar.HALF_BAR_RIGHT)
    chars.update(str(Header().icon), "▼▲🔎")  # the header's icon, Select's arrows, the palette's search icon
    return {char for char in chars if not char.isascii()}


def test_every_glyph_drawn_has_an_ascii_stand_in_of_the_same_width() -> None:
    """A glyph added to the wizard without a stand-in fails here, not as `?` on a site's console."""
    glyphs = _tui_strings() | _textual_glyphs()
    assert {"✔", "✘", "›", "·", "━", "⭘", "▐"} <= glyphs, "the scan found too little to test anything"
    missing = sorted(char for char in glyphs if ord(char) not in TABLE)
    assert missing == [], f"no ASCII stand-in for {''.join(missing)!r}: add them to terminal._TABLE"
    for char in glyphs:
        stand_in = to_ascii(char)
        assert stand_in.isascii() and cell_len(stand_in) == cell_len(char), (char, stand_in)


def test_anything_else_keeps_its_cells_and_escape_sequences_pass_untouched() -> None:
    line = "\x1b[1;31m✔ pass\x1b[0m · 漢字 ★"
    assert to_ascii(line) == "\x1b[1;31m+ pass\x1b[0m - ???? ?"
    assert cell_len(to_ascii("漢字 ★ ✔")) == cell_len("漢字 ★ ✔")
    assert to_ascii(Path("plain ascii").name) == "plain ascii"

"""Widgets every screen uses: the Back/Next bar, and status glyphs that read without colour."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Button

from greenzone.results import Status

GLYPH = {Status.PASS: "✔ pass", Status.WARN: "▲ warn", Status.FAIL: "✘ FAIL", Status.SKIP: "· skip"}
"""Words beside the colours, so that NO_COLOR and colour-blind readers lose nothing."""

PHASE_GLYPH = {
    "pending": "○",
    "skipped": "≡",
    "running": "▶",
    "done": "✔",
    "failed": "✘",
    "canceled": "■",
}


class NavBar(Horizontal):
    """Back on the left, the screen's own actions, Next on the right; the same place on every screen."""

    def __init__(self, *extra: Button, back: bool = True, next_label: str = "Next ›") -> None:
        super().__init__(id="nav")
        self._extra = extra
        self._back = back
        self._next_label = next_label

    def compose(self) -> ComposeResult:
        yield Button("‹ Back", id="back", disabled=not self._back)
        yield from self._extra
        yield Button(self._next_label, id="next", variant="primary", disabled=True)

"""Widgets every screen uses: the Back/Next bar, and status glyphs that read without colour."""

from __future__ import annotations

from rich.segment import Segment
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.content import Content
from textual.strip import Strip
from textual.widgets import Button, Checkbox, Input, OptionList, SelectionList

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


class FieldInput(Input):
    """Every text field of the wizard: compact, and focusing it never selects its text, so typing
    into what looks like another field cannot wipe this one."""

    def __init__(self, value: str, *, placeholder: str = "", id: str) -> None:
        super().__init__(value, placeholder=placeholder, id=id, compact=True, select_on_focus=False)


CHECKED, UNCHECKED = "[x]", "[ ]"
"""Ticked and not ticked differ in shape, not only in colour (Textual draws both as ▐X▌)."""
CURSOR = "›"


class TickBox(Checkbox):
    """A checkbox drawn `[x]`/`[ ]`, readable on a 16-colour console and under NO_COLOR."""

    @property
    def _button(self) -> Content:
        return Content.assemble((CHECKED if self.value else UNCHECKED, self.get_visual_style("toggle--button")))


class TickList(SelectionList[str]):
    """A selection list drawn `› [x] name`: the shape says what is ticked and where the cursor is.

    Space ticks the item under the cursor; the cursor starts on the first item, so the first Space
    after Tab already ticks something instead of only moving the highlight.
    """

    def _get_left_gutter_width(self) -> int:
        return len(f"{CURSOR} {CHECKED} ")

    def render_line(self, y: int) -> Strip:
        line = OptionList.render_line(self, y)
        index = self.scroll_offset[1] + y
        if index >= self.option_count:
            return line
        option = self.get_option_at_index(index)
        style = next(iter(line)).style or self.rich_style
        cursor = CURSOR if self.highlighted == index and self.has_focus else " "
        tick = CHECKED if option.value in self._selected else UNCHECKED
        return Strip([Segment(f"{cursor} {tick} ", style=style), *line])

    def on_focus(self) -> None:
        if self.highlighted is None and self.option_count:
            self.highlighted = 0

"""What every wizard screen shares: typed access to the wizard state and session, Back/Next keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import events, on
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button

from greenzone.tui.messages import StepFinished
from greenzone.tui.state import WizardState

if TYPE_CHECKING:
    from greenzone.install.session import InstallSession
    from greenzone.tui.app import GreenzoneApp


class WizardScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+n", "next", "Next"),
    ]
    STEP: ClassVar[str] = ""
    """Where the administrator is, in the header: "Step 3 of 6 · Settings"."""

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        self._mark_row(event.widget, focused=True)

    def on_descendant_blur(self, event: events.DescendantBlur) -> None:
        self._mark_row(event.widget, focused=False)

    @staticmethod
    def _mark_row(widget: Widget, *, focused: bool) -> None:
        """The field row holding the focus gets `focused`, which app.tcss draws in reverse video:
        a class change restyles the row's label at once, where `:focus-within` did not."""
        for node in widget.ancestors_with_self:
            if isinstance(node, Widget) and node.has_class("row"):
                node.set_class(focused, "focused")
                return

    def on_screen_resume(self) -> None:
        check = " · check mode" if self.wizard_app.check else ""  # the sentence does not fit 80 columns
        self.sub_title = self.STEP + check

    @property
    def wizard_app(self) -> GreenzoneApp:

        return cast("GreenzoneApp", self.app)

    @property
    def wizard(self) -> WizardState:
        return self.wizard_app.state

    @property
    def session(self) -> InstallSession:
        return self.wizard_app.session

    @property
    def next_button(self) -> Button:
        return self.query_one("#next", Button)

    @property
    def back_button(self) -> Button:
        return self.query_one("#back", Button)

    def allow_next(self, allowed: bool) -> None:
        self.next_button.disabled = not allowed
        self.refresh_bindings()

    def leave(self) -> bool:
        """What must still happen before the next step (save a file, say); False stays here."""
        return True

    def action_back(self) -> None:
        if not self.back_button.disabled:
            self.app.pop_screen()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer lists only keys that do something here: no Back on the first step or after
        the install began (Next stays listed: pressing it while shut says why)."""
        if action == "back":
            try:
                return not self.back_button.disabled
            except NoMatches:
                return True
        return True

    def why_blocked(self) -> str:
        """What keeps Next disabled, in words, for the administrator who presses it anyway."""
        return "Next waits until this step is complete."

    def action_next(self) -> None:
        if self.next_button.disabled:
            self.notify(self.why_blocked(), title="Not yet", severity="warning")
        elif self.leave():
            self.post_message(StepFinished(type(self)))

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        self.action_next()

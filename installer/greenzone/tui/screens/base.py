"""What every wizard screen shares: typed access to the wizard state and session, Back/Next keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import on
from textual.binding import Binding, BindingType
from textual.screen import Screen
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

    def leave(self) -> bool:
        """What must still happen before the next step (save a file, say); False stays here."""
        return True

    def action_back(self) -> None:
        if not self.back_button.disabled:
            self.app.pop_screen()

    def action_next(self) -> None:
        if not self.next_button.disabled and self.leave():
            self.post_message(StepFinished(type(self)))

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        self.action_next()

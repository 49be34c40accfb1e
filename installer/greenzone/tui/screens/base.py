"""What every wizard screen shares: typed access to the wizard state and session, Back/Next keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar, cast

from textual import on
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Button

from greenzone.install.session import InstallSession
from greenzone.tui.state import WizardState

if TYPE_CHECKING:
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

    def allow_next(self, allowed: bool) -> None:
        self.query_one("#next", Button).disabled = not allowed

    def go_next(self) -> None:
        """Push the following screen; each screen decides what must hold before it may."""
        raise NotImplementedError

    def action_back(self) -> None:
        if not self.query_one("#back", Button).disabled:
            self.app.pop_screen()

    def action_next(self) -> None:
        if not self.query_one("#next", Button).disabled:
            self.go_next()

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    @on(Button.Pressed, "#next")
    def _next_pressed(self) -> None:
        self.action_next()

"""The install wizard's reset, offered when an install here did not finish and the site would rather
start over on clean machines than resume it (a new bundle after a failed k3s phase, for instance).

The same reset as `greenzone reset` (commands/reset.py `run_reset`), behind the same typed
confirmation: the appliance's name. It cannot stop halfway, so quitting waits for it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Static

from greenzone.results import Report, Status


@dataclass(frozen=True)
class ResetOffer:
    name: str
    """The appliance's name, which must be typed."""
    lines: tuple[tuple[str, str], ...]
    """What the reset removes, as `greenzone reset --check` lists it."""
    run: Callable[[], Report]


class ResetScreen(Screen[bool]):
    """Dismissed with True once the machines are clean (the wizard then starts from empty settings),
    False when the user goes back without resetting."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]
    DEFAULT_CSS = """
    ResetScreen #reset-body { height: 1fr; }
    ResetScreen #reset-buttons { height: auto; }
    """

    def __init__(self, offer: ResetOffer) -> None:
        super().__init__()
        self.offer = offer
        self.running = False
        self.outcome: Report | None = None
        self.ok = False

    def compose(self) -> ComposeResult:
        yield Header()
        lines = "\n".join(f"  {name}: {detail}" for name, detail in self.offer.lines)
        with VerticalScroll(id="reset-body"):
            yield Static(
                f"Reset takes the machines of {self.offer.name!r} back to clean:\n{lines}\n\n"
                f"Type the appliance's name ({self.offer.name}) to go on.",
                id="reset-plan",
            )
            yield Input(placeholder=self.offer.name, id="reset-name")
            yield Static("", id="reset-result")
        with Horizontal(id="reset-buttons"):
            yield Button("Back", id="back")
            yield Button("Reset", id="reset", variant="error", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#reset-name", Input).focus()

    @on(Input.Changed, "#reset-name")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#reset", Button).disabled = self.running or event.value.strip() != self.offer.name

    @on(Input.Submitted, "#reset-name")
    def _submitted(self, event: Input.Submitted) -> None:
        if event.value.strip() == self.offer.name:
            self._start()

    @on(Button.Pressed, "#reset")
    def _pressed(self) -> None:
        if self.outcome is not None:
            self.finish()
        else:
            self._start()

    @on(Button.Pressed, "#back")
    def _back_pressed(self) -> None:
        self.action_back()

    def action_back(self) -> None:
        if self.running:
            self.notify("The reset is running and cannot stop halfway; it ends on its own.", severity="warning")
        elif self.outcome is None:
            self.dismiss(False)

    def _start(self) -> None:
        if self.running or self.outcome is not None:
            return
        self.running = True
        self.query_one("#reset-name", Input).disabled = True
        self.query_one("#reset", Button).disabled = True
        self.query_one("#back", Button).disabled = True
        self.query_one("#reset-result", Static).update("Resetting every node… (this cannot be interrupted)")
        self._run()

    @work(thread=True, exit_on_error=False)
    def _run(self) -> None:
        try:
            report = self.offer.run()
        except Exception as error:  # shown, never a crash of the wizard; the log has the traceback
            import logging

            logging.getLogger(__name__).exception("the wizard's reset failed")
            failed = Report("reset", (), {}, title=f"Reset failed: {type(error).__name__}: {error}")
            self.app.call_from_thread(self._done, failed, False)
            return
        self.app.call_from_thread(self._done, report, not any(c.status is Status.FAIL for c in report.checks))

    def _done(self, report: Report, ok: bool) -> None:
        self.running = False
        self.outcome = report
        self.ok = ok
        if getattr(self.app, "terminating", False):  # a signal asked to quit while it ran
            self.finish()
            return
        lines = [report.title or ""]
        lines += [f"{c.status.value.upper():5} {c.name}: {c.detail}" for c in report.checks]
        lines += [f"      fix: {c.remedy}" for c in report.checks if c.status is Status.FAIL and c.remedy]
        self.query_one("#reset-result", Static).update("\n".join(lines))
        button = self.query_one("#reset", Button)
        button.label = "Continue" if ok else "Quit"
        button.variant = "primary"
        button.disabled = False
        button.focus()

    def finish(self) -> None:
        """On after the reset: the wizard from empty settings, or out with the failure printed."""
        from greenzone.results import ExitCode

        if self.ok and not getattr(self.app, "terminating", False):
            self.dismiss(True)
            return
        if not self.ok and self.outcome is not None:
            self.app.reset_report = self.outcome  # type: ignore[attr-defined]
        self.app.exit(int(ExitCode.INTERRUPTED if self.ok else ExitCode.FAIL))

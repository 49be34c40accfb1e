"""Install: the phase list with states, overall and per-phase bars, the ETA, a live log, and cancel.

The run happens in a worker thread through the same session and progress model as the unattended
mode; cancelling asks first, then stops at the next task and records the phase, so running the
wizard (or `greenzone install --answers FILE`) again resumes there.
"""

from __future__ import annotations

import time

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Footer, Header, Label, ProgressBar, RichLog, Static

from greenzone.deploy.ansible_events import PhaseProgress
from greenzone.errors import GreenzoneError
from greenzone.install.tracker import Tracker, duration
from greenzone.results import Report
from greenzone.tui.screens.base import WizardScreen
from greenzone.tui.screens.confirm import Confirm
from greenzone.tui.widgets import PHASE_GLYPH, NavBar

LOG_LINES = 2000


class InstallScreen(WizardScreen):
    STEP = "Step 5 of 6 · Install"

    def why_blocked(self) -> str:
        return "Next waits for the install to finish; Cancel stops it at its next task."

    def __init__(self) -> None:
        super().__init__()
        self.tracker: Tracker | None = None

    @property
    def cancel_button(self) -> Button:
        return self.query_one("#cancel", Button)

    @property
    def log_view(self) -> RichLog:
        return self.query_one("#log", RichLog)

    @property
    def overall_bar(self) -> ProgressBar:
        return self.query_one("#overall", ProgressBar)

    @property
    def eta_line(self) -> Static:
        return self.query_one("#eta", Static)

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with Horizontal(id="install-top"):
            yield Static("", id="phases")
            with Vertical(id="bars"):
                yield Label("Overall", id="overall-label")
                yield ProgressBar(total=100, show_eta=False, id="overall")
                yield Static("", id="eta")
                yield Label("", id="phase-title")
                yield ProgressBar(total=100, show_eta=False, id="phase")
                yield Static("", id="task")
        # Wrapped at the width it shows: RichLog's default minimum of 78 columns is wider than the
        # log's box on an 80-column console, and it cut the end of every long line.
        yield RichLog(id="log", max_lines=LOG_LINES, wrap=True, markup=False, min_width=1)
        yield NavBar(Button("Cancel", id="cancel", variant="error"), back=False, next_label="Done ›")
        yield Footer()

    def on_mount(self) -> None:
        self.wizard.installing = True
        self.set_interval(1.0, self._tick)
        self._run()

    @work(thread=True, exclusive=True, exit_on_error=False, group="install")
    def _run(self) -> None:
        wizard = self.wizard
        assert wizard.answers is not None and wizard.bundle is not None and wizard.saved_to is not None
        try:
            prepared = self.session.prepare(wizard.answers, wizard.saved_to, wizard.bundle)
            self.app.call_from_thread(self._started, prepared.tracker)
            report = self.session.run(prepared, self._listener).report
        except GreenzoneError as error:
            self.app.call_from_thread(self._log, f"✘ {error.title}; fix: {error.hint}")
            report = None
        self.app.call_from_thread(self._finished, report)

    def _listener(self, tracker: Tracker, progress: PhaseProgress, line: str | None) -> None:
        self.app.call_from_thread(self._progress, tracker, progress, line)

    def _started(self, tracker: Tracker) -> None:
        self.tracker = tracker
        self._show_phases()

    def on_resize(self) -> None:
        """Lines are wrapped when written: wrap them again at the new width."""
        self.log_view.clear()
        for line in self.wizard.log_lines[-LOG_LINES:]:
            self.log_view.write(line)

    def _log(self, line: str) -> None:
        self.wizard.log_lines.append(line)
        self.log_view.write(line)

    def _progress(self, tracker: Tracker, progress: PhaseProgress, line: str | None) -> None:
        self.tracker = tracker
        if line:
            self._log(f"{progress.phase}: {line}")
        view = tracker.view(progress.phase)
        self.query_one("#phase-title", Label).update(
            f"{view.phase.title} ({progress.task_index}/{progress.tasks_total})"
        )
        self.query_one("#phase", ProgressBar).update(progress=round(progress.fraction * 100))
        self.query_one("#task", Static).update(progress.task)
        self.overall_bar.update(progress=round(tracker.fraction() * 100))
        self._show_phases()

    def _show_phases(self) -> None:
        if self.tracker is None:
            return
        lines = []
        for view in self.tracker.views:
            suffix = " (done earlier)" if view.state == "skipped" else ""
            lines.append(f"{PHASE_GLYPH[view.state]} {view.phase.title}{suffix}")
        self.query_one("#phases", Static).update("\n".join(lines))

    def _tick(self) -> None:
        if self.tracker is None or not self.wizard.installing:
            return
        eta = self.tracker.eta(time.time())
        elapsed = duration(time.time() - self.tracker.started)
        self.eta_line.update(f"{elapsed} elapsed" + (f", about {duration(eta)} left" if eta else ""))

    def _finished(self, report: Report | None) -> None:
        self.wizard.installing = False
        self.wizard.result = report
        self._show_phases()
        outcome = self.tracker.outcome if self.tracker else "failed"
        self.eta_line.update(f"finished: {outcome}")
        if self.tracker is not None:
            self.overall_bar.update(progress=round(self.tracker.fraction() * 100))
        self.cancel_button.disabled = True
        self.allow_next(True)
        self.next_button.focus()
        if self.wizard_app.terminating:
            self.app.exit(int(self.wizard.exit_code()))

    @on(Button.Pressed, "#cancel")
    def action_cancel_install(self) -> None:
        if not self.wizard.installing:
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._log("canceling: the running phase stops at its next task")
                self.session.cancel()
                self.cancel_button.disabled = True

        self.app.push_screen(
            Confirm(
                "Cancel the install? The running phase stops at its next task; run the install again to resume.",
                yes="Cancel install",
            ),
            answered,
        )

    def action_back(self) -> None:
        """No way back while phases run, nor after: the machine has changed; Done shows where it stands."""

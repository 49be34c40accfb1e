"""Done: how the install ended, whether the appliance works (one `greenzone health` run after a
successful install), where it is reached, where its credentials are, and each phase's result (the
shared result model), with what to do next when something did not finish."""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Footer, Header, Static

from greenzone.answers.model import Answers
from greenzone.bundle.manifest import Manifest
from greenzone.errors import GreenzoneError
from greenzone.install.session import urls
from greenzone.results import Report, Status
from greenzone.tui.screens.base import WizardScreen
from greenzone.tui.widgets import GLYPH, PHASE_GLYPH, NavBar


class DoneScreen(WizardScreen):
    STEP = "Step 6 of 6 · Done"

    def compose(self) -> ComposeResult:
        yield Header(show_clock=False)
        with VerticalScroll(id="body"):
            yield Static("", id="outcome")
            yield Static("", id="health")
            yield Static("", id="reach")
            yield DataTable(id="summary", cursor_type="none", zebra_stripes=True)
        yield NavBar(back=False, next_label="Quit")
        yield Footer()

    def on_mount(self) -> None:
        report, answers = self.wizard.result, self.wizard.answers
        outcome = str(report.data.get("outcome")) if report else "failed"
        state_dir = self.session.state_dir
        if report is None:
            headline = f"{GLYPH[Status.FAIL]} The install could not start; the log is in {state_dir.install_log}."
        elif self.session.check and outcome == "successful":
            changes = report.data.get("changed", 0)
            headline = f"{GLYPH[Status.PASS]} Check finished: {changes} change(s) predicted; nothing was changed."
        elif outcome == "successful":
            headline = f"{GLYPH[Status.PASS]} The private AI appliance is installed."
        elif outcome == "canceled":
            headline = (
                f"{PHASE_GLYPH['canceled']} Install canceled. Run `greenzone install` again to resume where it stopped."
            )
        else:
            failed = next((check for check in report.checks if check.status is Status.FAIL), None)
            where = f" in phase {failed.name}: {failed.detail}" if failed else ""
            headline = (
                f"{GLYPH[Status.FAIL]} The install failed{where}\nfix: {failed.remedy if failed else ''}\n"
                "If that does not help: `greenzone support-bundle` collects what the vendor needs."
            )
        self.query_one("#outcome", Static).update(headline)
        reach = []
        if answers is not None and outcome == "successful" and not self.session.check:
            reach = [f"{name}: {url}" for name, url in urls(answers).items()]
        reach.append(f"credentials: {state_dir.credentials} (mode 0600)")
        reach.append(f"full log: {state_dir.check_log if self.session.check else state_dir.install_log}")
        if self.wizard.saved_to:
            reach.append(f"answers: {self.wizard.saved_to}")
        self.query_one("#reach", Static).update("\n".join(reach))
        table = self.query_one("#summary", DataTable)
        table.add_columns("status", "phase", "detail")
        for check in report.checks if report else ():
            table.add_row(GLYPH[check.status], check.name, check.detail)
        self.allow_next(True)
        self.next_button.focus()
        manifest = self.wizard.manifest
        if answers is not None and manifest is not None and outcome == "successful" and not self.session.check:
            shown = self.query_one("#health", Static)
            shown.display = True
            shown.update("Checking that every layer works (greenzone health)…")
            self._health(answers, manifest)

    @work(thread=True, exclusive=True, exit_on_error=False, group="health")
    def _health(self, answers: Answers, manifest: Manifest) -> None:
        try:
            report = self.session.health(answers, manifest)
        except GreenzoneError as error:
            text = f"{GLYPH[Status.WARN]} health could not run: {error.title}\n    fix: {error.hint}"
        else:
            text = health_summary(report)
        self.app.call_from_thread(self.query_one("#health", Static).update, text)

    def action_back(self) -> None:
        """Nothing to go back to: the install has run."""


SHOWN_PROBLEMS = 6


def health_summary(report: Report) -> str:
    """The run's verdict in a few lines: the counts, then what fails or warns with its fix."""
    parts = report.tally()
    if report.status is Status.PASS:
        return f"Health: every layer works ({parts})."
    problems = [check for check in report.checks if check.status in (Status.FAIL, Status.WARN)]
    lines = [f"Health: {parts}; `greenzone health` shows it again:"]
    for check in problems[:SHOWN_PROBLEMS]:
        lines.append(f"{GLYPH[check.status]} {check.name}: {check.detail}")
        if check.remedy:
            lines.append(f"    fix: {check.remedy}")
    if len(problems) > SHOWN_PROBLEMS:
        lines.append(f"… and {len(problems) - SHOWN_PROBLEMS} more")
    if report.status is Status.FAIL:
        lines.append("If a fix does not help: `greenzone support-bundle` collects what the vendor needs.")
    return "\n".join(lines)

"""The upgrade at a console: `greenzone upgrade --bundle NEW` on a terminal. The second front end of
`upgrade/session.py` (the first is the CLI's plan table and y/N question), as the install wizard is
of the install session: the plan and its preflight in the one results table, an explicit Upgrade
button that asks first, the phases as they end, then the result with its notes.

Nothing here decides anything: what is refused, what runs and what is recorded is the session's.
Keyboard only: Tab moves, Enter presses, Ctrl+Q asks before quitting (during the run it cancels at
the next task, and the same command resumes).
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, RichLog, Static

from greenzone.results import ExitCode, Report
from greenzone.tui.console import ConsoleApp
from greenzone.tui.screens.confirm import Confirm

if TYPE_CHECKING:
    from greenzone.deploy.ansible_events import PhaseProgress
    from greenzone.upgrade.session import Assessment, UpgradeRun, UpgradeSession


def _problem(error: BaseException) -> tuple[str, str, ExitCode]:
    """What a failure in the background work says, and the exit code it ends with (as the CLI's)."""
    import logging

    from greenzone.errors import GreenzoneError

    if isinstance(error, GreenzoneError):
        return error.title, error.hint, error.exit_code
    if isinstance(error, OSError):
        return (
            f"{error.filename or ''} {error.strerror or error}".strip(),
            "check the path and its permissions",
            ExitCode.ENVIRONMENT,
        )
    logging.getLogger(__name__).exception("the upgrade's screens met an internal error")
    return (
        f"internal error: {type(error).__name__}: {error}",
        "the traceback is in greenzone's log file",
        ExitCode.INTERNAL,
    )


def _shown(report: Report, notes: tuple[str, ...] = ()) -> Any:
    from rich.console import Group
    from rich.text import Text

    from greenzone.output import report_renderables

    return Group(*report_renderables(report), *(Text(note) for note in notes))


class PlanScreen(Screen[None]):
    """The plan and its preflight; Upgrade opens only when nothing refuses it."""

    DEFAULT_CSS = """
    PlanScreen #plan-body { height: 1fr; }
    PlanScreen .upgrade-buttons, RunScreen .upgrade-buttons { height: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        with VerticalScroll(id="plan-body"):
            yield Static(
                "Reading the new bundle, verifying it with the site's key and checking the appliance…", id="plan"
            )
        with Horizontal(classes="upgrade-buttons"):
            yield Button("Quit", id="quit")
            yield Button("Upgrade", id="upgrade", variant="primary", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Upgrade · the plan (nothing changes until you press Upgrade)"
        # A daemon thread, not a worker: quitting while the bundle is still being hashed must not wait
        # for it (nothing has changed yet, so nothing needs to finish).
        threading.Thread(target=self._assess, name="upgrade-assess", daemon=True).start()

    def _assess(self) -> None:
        from greenzone.upgrade.session import assess

        app = self.upgrade_app
        try:
            seen = assess(app.work)
        except BaseException as error:  # shown, never lost in a thread: the screen must not hang
            problem = _problem(error)
            with contextlib.suppress(RuntimeError):  # the app already closed
                self.app.call_from_thread(self._problem, *problem)
            return
        with contextlib.suppress(RuntimeError):
            self.app.call_from_thread(self._show, seen)

    def _problem(self, title: str, hint: str, code: ExitCode) -> None:
        self.query_one("#plan", Static).update(f"{title}\n\nfix: {hint}" if hint else title)
        self.upgrade_app.code = code
        self.upgrade_app.settled = True
        self.query_one("#quit", Button).focus()

    def _show(self, seen: Assessment) -> None:
        app = self.upgrade_app
        app.assessment = seen
        titles = {
            "unchanged": "Nothing to upgrade: this bundle is the installed one",
            "refused": "Upgrade refused: nothing was changed",
            "ready": "The upgrade's plan: press Upgrade to start",
        }
        report = Report("upgrade", seen.checks, seen.data, title=titles[seen.verdict], grouped=True)
        self.query_one("#plan", Static).update(_shown(report))
        app.code = report.exit_code if seen.verdict != "ready" else ExitCode.OK
        app.settled = seen.verdict != "ready"
        button = self.query_one("#upgrade", Button)
        button.disabled = seen.verdict != "ready"
        (button if not button.disabled else self.query_one("#quit", Button)).focus()

    @property
    def upgrade_app(self) -> UpgradeApp:
        assert isinstance(self.app, UpgradeApp)
        return self.app

    @on(Button.Pressed, "#quit")
    def _quit(self) -> None:
        self.app.exit(int(self.upgrade_app.code))

    @staticmethod
    def _cleans_up(seen: Assessment) -> bool:
        return any(c.name.startswith("what ") and c.name.endswith(" left") for c in seen.checks)

    @on(Button.Pressed, "#upgrade")
    def _upgrade(self) -> None:
        seen = self.upgrade_app.assessment
        if seen is None:
            return
        question = (
            f"Upgrade {seen.plan.old_product} → {seen.plan.new_product} now? The services above restart as the "
            "plan says; the previous version is kept until `greenzone upgrade --finalize`"
            + (" (what an earlier version left is deleted first)." if self._cleans_up(seen) else ".")
        )

        def answered(yes: bool | None) -> None:
            if yes:
                self.upgrade_app.running = True  # here, before the run's thread exists: a quit now cancels it
                self.app.switch_screen(RunScreen())

        self.app.push_screen(Confirm(question, yes="Upgrade"), answered)


class RunScreen(Screen[None]):
    """The phases as they end, then the result; Ctrl+Q cancels at the next task."""

    DEFAULT_CSS = """
    RunScreen #log { height: 1fr; min-height: 4; }
    RunScreen #result-body { height: 2fr; }
    RunScreen .upgrade-buttons { height: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield RichLog(id="log", wrap=True, min_width=1)
        with VerticalScroll(id="result-body"):
            yield Static("", id="result")
        with Horizontal(classes="upgrade-buttons"):
            yield Button("Close", id="close", disabled=True)
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "Upgrade · running (Ctrl+Q cancels at the next task; the same command resumes)"
        self._run()

    @property
    def upgrade_app(self) -> UpgradeApp:
        assert isinstance(self.app, UpgradeApp)
        return self.app

    def _line(self, text: str) -> None:
        self.query_one("#log", RichLog).write(text)

    @work(thread=True, exit_on_error=False)
    def _run(self) -> None:
        from greenzone.upgrade.session import run_upgrade

        app = self.upgrade_app
        seen = app.assessment
        assert seen is not None

        def listener(tracker: Any, progress: PhaseProgress, line: str | None) -> None:
            if progress.outcome != "running":
                self.app.call_from_thread(self._line, f"{progress.phase}: {progress.summary()}")

        try:
            run = run_upgrade(app.work, seen.plan, list(seen.checks), seen.data, listener, handle_signals=False)
        except BaseException as error:  # shown, never lost in a thread: the screen must not hang
            problem = _problem(error)
            self.app.call_from_thread(self._failed, *problem)
            return
        finally:
            app.running = False
        self.app.call_from_thread(self._done, run)

    def _failed(self, title: str, hint: str, code: ExitCode) -> None:
        app = self.upgrade_app
        app.code, app.finished = code, True
        self.query_one("#result", Static).update(
            f"The upgrade could not go on: {title}"
            + (f"\n\nfix: {hint}" if hint else "")
            + "\n\nWhat it did is recorded: the same `greenzone upgrade` resumes, `greenzone status` shows it."
        )
        self.sub_title = "Upgrade · stopped"
        button = self.query_one("#close", Button)
        button.disabled = False
        button.focus()
        if app.terminating:
            app.exit(int(app.code))

    def _done(self, run: UpgradeRun) -> None:
        app = self.upgrade_app
        app.code = ExitCode.INTERRUPTED if run.outcome == "canceled" else run.report.exit_code
        app.finished = True
        self.query_one("#result", Static).update(_shown(run.report, run.notes))
        self.sub_title = f"Upgrade · {run.outcome}"
        button = self.query_one("#close", Button)
        button.disabled = False
        button.focus()
        if app.terminating:
            app.exit(int(app.code))

    @on(Button.Pressed, "#close")
    def _close(self) -> None:
        self.app.exit(int(self.upgrade_app.code))


class UpgradeApp(ConsoleApp):
    TITLE = "Greenzone upgrade"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit_upgrade", "Quit", priority=True),
        Binding("ctrl+c", "quit_upgrade", "Quit", show=False, priority=True),
    ]

    def __init__(self, work: UpgradeSession) -> None:
        super().__init__()
        self.work = work
        self.assessment: Assessment | None = None
        self.running = False
        self.finished = False
        self.settled = False
        """The plan was refused or could not be made: quitting ends with its exit code."""
        self.terminating = False
        self.code = ExitCode.INTERRUPTED
        """The exit code so far: the plan's when it was refused, the run's once it ended."""

    def on_mount(self) -> None:
        self.listen_for_signals()
        self.push_screen(PlanScreen())

    def terminate(self) -> None:
        """A signal: cancel a running upgrade at its next task and quit once it stopped; else quit."""
        if self.running:
            self.terminating = True
            self.work.cancel()
        else:
            self.exit(int(ExitCode.INTERRUPTED))

    async def action_quit(self) -> None:
        self.action_quit_upgrade()

    def action_quit_upgrade(self) -> None:
        if self.finished or self.settled:
            self.exit(int(self.code))
            return
        running = self.running
        question = (
            "Cancel the upgrade? The running phase stops at its next task; `greenzone upgrade` with the same "
            "bundle resumes it."
            if running
            else "Quit? Nothing has been changed by this screen."
        )

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            if running:
                self.terminating = True
                self.work.cancel()
            else:
                self.exit(int(ExitCode.INTERRUPTED))

        self.push_screen(Confirm(question, yes="Cancel" if running else "Quit"), answered)


def run_upgrade_wizard(work: UpgradeSession) -> ExitCode:
    code = UpgradeApp(work).run()
    return ExitCode(code) if code is not None else ExitCode.INTERRUPTED

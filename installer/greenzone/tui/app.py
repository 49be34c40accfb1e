"""The install wizard: wiring only. Screens live in `screens/`, one per file; the work is done by
`install/session.py`, the same session the unattended mode uses."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import ClassVar

from textual import on
from textual.app import App
from textual.binding import Binding, BindingType

from greenzone.answers.files import load_answers, read_text
from greenzone.errors import InputError
from greenzone.install.session import InstallSession
from greenzone.results import ExitCode
from greenzone.tui.form import initial_document
from greenzone.tui.messages import StepFinished
from greenzone.tui.screens.base import WizardScreen
from greenzone.tui.screens.confirm import Confirm
from greenzone.tui.screens.done import DoneScreen
from greenzone.tui.screens.install import InstallScreen
from greenzone.tui.screens.preflight import PreflightScreen
from greenzone.tui.screens.review import ReviewScreen
from greenzone.tui.screens.settings import SettingsScreen
from greenzone.tui.screens.welcome import WelcomeScreen
from greenzone.tui.state import WizardState
from greenzone.yamlpos import load

STEPS: tuple[type[WizardScreen], ...] = (
    WelcomeScreen,
    PreflightScreen,
    SettingsScreen,
    ReviewScreen,
    InstallScreen,
    DoneScreen,
)
"""The wizard's one order. Up to Install each step is pushed over the one before it, so Esc goes
back (Install itself refuses to); once the install has run, Done replaces it: there is no way back."""
NO_WAY_BACK = STEPS.index(InstallScreen)


class GreenzoneApp(App[int]):
    CSS_PATH = "app.tcss"
    TITLE = "Greenzone installer"
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "quit_wizard", "Quit", priority=True)]

    def __init__(self, session: InstallSession, state: WizardState) -> None:
        super().__init__()
        self.session = session
        self.state = state
        self.terminating = False
        """A signal asked to quit while phases ran: the install screen exits once they stopped."""
        if session.check:
            self.sub_title = "check mode: nothing will be changed"

    def on_mount(self) -> None:
        # SIGTERM (systemd, an operator's kill) and SIGHUP (the console's SSH session dropped) end the
        # wizard like a confirmed Quit: a running install is canceled at its next task first.
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.terminate)
        self.push_screen(STEPS[0]())

    def terminate(self) -> None:
        """Quit without asking: stop now when nothing runs, else cancel and quit once the phase stopped."""
        if self.state.installing:
            self.terminating = True
            self.session.cancel()
        else:
            self.exit(int(ExitCode.INTERRUPTED) if self.state.result is None else int(self.state.exit_code()))

    @on(StepFinished)
    def _next_step(self, finished: StepFinished) -> None:
        index = STEPS.index(finished.step) + 1
        if index == len(STEPS):
            self.exit(int(self.state.exit_code()))
        elif index > NO_WAY_BACK:
            self.switch_screen(STEPS[index]())
        else:
            self.push_screen(STEPS[index]())

    def action_quit_wizard(self) -> None:
        running = self.state.installing

        def answered(yes: bool | None) -> None:
            if yes:
                self.session.cancel()
                self.exit(int(ExitCode.INTERRUPTED))

        question = (
            "Quit now? The running phase is canceled at its next task; run the install again to resume."
            if running
            else "Quit the installer? Nothing has been changed on this machine yet."
        )
        if self.state.result is not None:
            self.exit(int(self.state.exit_code()))
        else:
            self.push_screen(Confirm(question, yes="Quit"), answered)


def wizard_state(answers_file: Path | None, bundle: Path | None, key: Path | None = None) -> WizardState:
    """The wizard's starting point: a given answer file prefills every screen (its bundle too); a
    given bundle and key (the drive's bootstrap passes both) prefill the Welcome screen."""
    document = None
    if answers_file is not None:
        text, problem = read_text(answers_file)
        if problem is not None or text is None:
            raise InputError(
                problem.message if problem else f"cannot read {answers_file}", hint="give a readable answer file"
            )
        loaded = load(text).data
        document = loaded if isinstance(loaded, dict) else None
    section = (document or {}).get("bundle") or {}
    base = answers_file.resolve().parent if answers_file else Path.cwd()
    bundle_path = bundle or (base / section["path"] if isinstance(section, dict) and section.get("path") else None)
    if key is None and isinstance(section, dict) and section.get("public_key"):
        key = base / section["public_key"]
    state = WizardState(
        initial_document(document, str(bundle_path or ""), str(key or "")),
        answers_file=answers_file,
        bundle=bundle_path,
        public_key=key,
    )
    if answers_file is not None:
        # Valid answers tell Preflight which nodes this machine is; invalid ones are fixed in Settings.
        validation = load_answers(answers_file, bundle_dir=bundle)
        state.answers = validation.answers if validation.ok else None
    return state


def run_wizard(
    session: InstallSession, *, answers_file: Path | None, bundle: Path | None, key: Path | None = None
) -> ExitCode:
    app = GreenzoneApp(session, wizard_state(answers_file, bundle, key))
    code = app.run()
    return ExitCode(code) if code is not None else ExitCode.INTERRUPTED

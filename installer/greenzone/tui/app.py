"""The install wizard: wiring only. Screens live in `screens/`, one per file; the work is done by
`install/session.py`, the same session the unattended mode uses.

The first screen is drawn before anything heavy is imported or computed: the session (pydantic
models, the deploy workspace, cryptography), the answer file's validation and the later screens
are loaded by `ready()`, which a worker runs right after the first paint and which anything that
needs them calls first (it returns at once when the worker is done, and waits for it otherwise).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.binding import Binding, BindingType

from greenzone.results import ExitCode, Report
from greenzone.textfiles import read_text
from greenzone.tui.console import ConsoleApp
from greenzone.tui.messages import StepFinished
from greenzone.tui.screens.base import WizardScreen
from greenzone.tui.screens.confirm import Confirm
from greenzone.tui.screens.welcome import WelcomeScreen
from greenzone.tui.state import WizardState, initial_document
from greenzone.yamlpos import load

if TYPE_CHECKING:
    from greenzone.install.session import InstallSession
    from greenzone.tui.screens.reset import ResetOffer

STEP_NAMES = ("welcome", "preflight", "settings", "review", "install", "done")
"""The wizard's one order. Up to Install each step is pushed over the one before it, so Esc goes
back (Install itself refuses to); once the install has run, Done replaces it: there is no way back."""
NO_WAY_BACK = STEP_NAMES.index("install")


def steps() -> tuple[type[WizardScreen], ...]:
    """The screens in STEP_NAMES' order; all but Welcome are imported on first use."""
    from greenzone.tui.screens.done import DoneScreen
    from greenzone.tui.screens.install import InstallScreen
    from greenzone.tui.screens.preflight import PreflightScreen
    from greenzone.tui.screens.review import ReviewScreen
    from greenzone.tui.screens.settings import SettingsScreen

    return (WelcomeScreen, PreflightScreen, SettingsScreen, ReviewScreen, InstallScreen, DoneScreen)


class GreenzoneApp(ConsoleApp):
    TITLE = "Greenzone installer"
    # Every way out asks the same question: Ctrl+Q, Ctrl+C (what a console user presses first) and
    # the command palette's Quit (which calls `action_quit`).
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+q", "quit_wizard", "Quit", priority=True),
        Binding("ctrl+c", "quit_wizard", "Quit", show=False, priority=True),
    ]

    def __init__(
        self,
        session: Callable[[], InstallSession],
        state: WizardState,
        *,
        check: bool = False,
        resume: Callable[[], WizardState] | None = None,
        upgrade_offer: tuple[str, str] | None = None,
        reset: Callable[[], ResetOffer | None] | None = None,
    ) -> None:
        super().__init__()
        self._resume = resume
        self._reset = reset
        """The reset offered when the unfinished install is not resumed (commands/install.py)."""
        self._upgrade_offer = upgrade_offer
        """(installed version, the bundle's): an appliance runs here and the bundle is another one."""
        self.upgrade_chosen = False
        self.reset_report: Report | None = None
        """A reset the wizard ran that stopped, printed once the app has closed."""
        """The state of an install that was started and not finished, offered before the first step."""
        self._make_session = session
        self._session: InstallSession | None = None
        self._loading = threading.Lock()
        self.state = state
        self.terminating = False
        """A signal asked to quit while phases ran: the install screen exits once they stopped."""
        self.check = check
        """Check mode: every screen's header says that nothing will be changed."""

    def ready(self) -> None:
        """Load what the first screen did not need: the session, the answer file's validation, the
        other screens. Idempotent and thread-safe; a second caller waits for the first."""
        with self._loading:
            if self._session is not None:
                return
            session = self._make_session()
            if self.state.answers_file is not None and self.state.answers is None:
                from greenzone.answers.files import load_answers

                # Valid answers tell Preflight which nodes this machine is; invalid ones are fixed in Settings.
                validation = load_answers(self.state.answers_file, bundle_dir=self.state.bundle)
                self.state.answers = validation.answers if validation.ok else None
            steps()
            self._session = session

    @property
    def session(self) -> InstallSession:
        self.ready()
        assert self._session is not None
        return self._session

    @work(thread=True, exit_on_error=False, group="warm-up")
    def _warm_up(self) -> None:
        self.ready()

    def on_mount(self) -> None:
        self.listen_for_signals()
        if self._upgrade_offer is not None:
            installed, carried = self._upgrade_offer

            def chose(yes: bool | None) -> None:
                if yes:
                    self.upgrade_chosen = True
                    self.exit(int(ExitCode.OK))
                else:
                    self._start()

            self.push_screen(
                Confirm(
                    f"Greenzone {installed} is installed here, and this bundle is {carried}. Upgrade the running "
                    "appliance to it? (The upgrade shows its plan first and changes nothing until you confirm. "
                    "No goes on to install these settings again.)",
                    yes="Upgrade",
                ),
                chose,
            )
            return
        if self._resume is None:
            self._start()
            return
        resume = self._resume

        def answered(yes: bool | None) -> None:
            if yes:
                self.state = resume()
                self._start()
            else:
                self._offer_reset()

        self.push_screen(
            Confirm(
                "An install was started here and did not finish. Resume it with the answers it saved? "
                "(No starts again from empty settings, and first offers to take the machines back to clean "
                "when it cannot go on, e.g. a new bundle after a failed k3s phase.)",
                yes="Resume",
            ),
            answered,
        )

    def _offer_reset(self) -> None:
        offer = self._reset() if self._reset is not None else None
        if offer is None:
            self._start()
            return

        def reset_done(clean: bool | None) -> None:
            self._start()

        def answered(yes: bool | None) -> None:
            if yes:
                from greenzone.tui.screens.reset import ResetScreen

                self.push_screen(ResetScreen(offer), reset_done)
            else:
                self._start()

        self.push_screen(
            Confirm(
                f"Take the machines of {offer.name!r} back to clean first (`greenzone reset`)? It uninstalls "
                "what the unfinished install put there and moves its state to a dated backup. No leaves them "
                "as they are.",
                yes="Reset…",
            ),
            answered,
        )

    def _start(self) -> None:
        self.push_screen(WelcomeScreen())
        self.call_after_refresh(self._warm_up)

    def terminate(self) -> None:
        """Quit without asking: stop now when nothing runs, else cancel and quit once the phase stopped
        (a running reset cannot be canceled: the wizard quits when it ends)."""
        if getattr(self.screen, "running", False):
            self.terminating = True
            self.notify("Quitting once the reset ends; it cannot stop halfway.", severity="warning")
        elif self.state.installing and self._session is not None:
            self.terminating = True
            self._session.cancel()
        else:
            self.exit(int(ExitCode.INTERRUPTED) if self.state.result is None else int(self.state.exit_code()))

    @on(StepFinished)
    def _next_step(self, finished: StepFinished) -> None:
        self.ready()
        order = steps()
        index = order.index(finished.step) + 1
        if index == len(order):
            self.exit(int(self.state.exit_code()))
        elif index > NO_WAY_BACK:
            self.switch_screen(order[index]())
        else:
            self.push_screen(order[index]())

    async def action_quit(self) -> None:
        self.action_quit_wizard()

    def action_quit_wizard(self) -> None:
        if getattr(self.screen, "running", False):  # the reset's screen: it cannot stop halfway
            self.notify("The reset is running and cannot stop halfway; it ends on its own.", severity="warning")
            return
        if getattr(self.screen, "outcome", None) is not None:  # a reset that stopped: the nodes changed
            self.screen.finish()  # type: ignore[attr-defined]
            return
        running = self.state.installing

        def answered(yes: bool | None) -> None:
            if yes:
                if self._session is not None:
                    self._session.cancel()
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
    given bundle and key (the drive's bootstrap passes both) prefill the Welcome screen. The file is
    only read and parsed here; `GreenzoneApp.ready` validates it after the first paint."""
    document = None
    if answers_file is not None:
        text = read_text(answers_file, "an answer file", limit=1024 * 1024)
        loaded = load(text).data
        document = loaded if isinstance(loaded, dict) else None
    section = (document or {}).get("bundle") or {}
    base = answers_file.resolve().parent if answers_file else Path.cwd()
    bundle_path = bundle or (base / section["path"] if isinstance(section, dict) and section.get("path") else None)
    if key is None and isinstance(section, dict) and section.get("public_key"):
        key = base / section["public_key"]
    return WizardState(
        initial_document(document, str(bundle_path or ""), str(key or "")),
        answers_file=answers_file,
        bundle=bundle_path,
        public_key=key,
    )


def run_wizard(
    session: Callable[[], InstallSession],
    *,
    answers_file: Path | None,
    bundle: Path | None,
    key: Path | None = None,
    check: bool = False,
    resume: Path | None = None,
    upgrade: tuple[tuple[str, str], Callable[[], ExitCode]] | None = None,
    reset: Callable[[], ResetOffer | None] | None = None,
) -> ExitCode:
    """`resume`: the answers an unfinished install saved, offered first when no answer file is given.
    `upgrade`: (installed version, the bundle's) and the upgrade's screens, offered first when an
    appliance runs here and the bundle is another one; chosen, they run once this app has closed."""
    offer = (lambda: wizard_state(resume, bundle, key)) if resume is not None and answers_file is None else None
    app = GreenzoneApp(
        session,
        wizard_state(answers_file, bundle, key),
        check=check,
        resume=offer,
        upgrade_offer=upgrade and upgrade[0],
        reset=reset if offer is not None else None,
    )
    code = app.run()
    if app.reset_report is not None:  # a reset that stopped: what it says outlives the screen
        from greenzone.output import console, print_report

        print_report(app.reset_report, console())
    if app.upgrade_chosen and upgrade is not None:
        return upgrade[1]()
    return ExitCode(code) if code is not None else ExitCode.INTERRUPTED

"""`greenzone upgrade` at a console, driven by Textual's Pilot at 80×24, keyboard only.

The installed state is what the install's own workspace writes (answers, manifest, values,
credentials) for a real signed test bundle, and the new bundle is another one signed with the same
vendor key: the plan, the signature check and the health run are the session's own, for real. The
run itself is replaced (`upgrade.session.run_upgrade`): its phases need nodes and a cluster, and
tests/test_upgrade.py runs them over SSH; here the screens' part is what is tested. As there, the
`cluster` tasks are skipped (no Helm revisions can be read without a cluster).
"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Button, RichLog, Static

from greenzone.answers.files import load_valid_answers
from greenzone.deploy.ansible_events import PhaseProgress
from greenzone.deploy.workspace import prepare
from greenzone.results import Check, ExitCode, Report, Status
from greenzone.statedir import StateDir
from greenzone.tui.app import GreenzoneApp
from greenzone.tui.screens.confirm import Confirm
from greenzone.tui.upgrade import PlanScreen, RunScreen, UpgradeApp
from greenzone.upgrade import session as upgrade_session
from greenzone.upgrade.session import UpgradeOptions, UpgradeRun, UpgradeSession, assess
from tests.support.deploy import answers_text, make_bundle, ssh_node
from tests.support.tui import until

pytestmark = pytest.mark.slow  # each test drives the real app for seconds


@pytest.fixture
def site(tmp_path: Path) -> tuple[StateDir, Path, frozenset[str]]:
    """An installed state directory, a newer bundle, and the health checks failing here (no cluster)."""
    old = make_bundle(tmp_path / "bundle-1", product_version="1.0.0")
    answers_file = tmp_path / "site.yaml"
    answers_file.write_text(answers_text(old, [ssh_node(2222, tmp_path / "key", name="gz-1")]))
    state = StateDir(tmp_path / "state")
    prepare(load_valid_answers(answers_file), state, source=str(answers_file), bundle=old)
    new = make_bundle(tmp_path / "bundle-2", product_version="1.1.0", k3s="v1.35.9+k3s1", signed_like=old)
    failing = frozenset(assess(UpgradeSession(state, UpgradeOptions(bundle=new))).data["health_failing"])
    assert failing  # nothing answers here: the plan is refused unless they are accepted
    return state, new, failing


def drive(app: UpgradeApp | GreenzoneApp, scenario: Any) -> int | None:
    async def main() -> None:
        async with app.run_test(size=(80, 24)) as pilot:
            await scenario(app, pilot)

    asyncio.run(main())
    return app.return_value


def shown(app: UpgradeApp, selector: str) -> str:
    """What a Static shows, as text: its content rendered by Rich at a width wide enough for one line a row."""
    import io

    from rich.console import Console

    console = Console(width=400, record=True, file=io.StringIO())
    console.print(app.screen.query_one(selector, Static).content)
    return console.export_text()


def test_a_refused_upgrade_shows_why_and_cannot_start(site: tuple[StateDir, Path, frozenset[str]]) -> None:
    state, new, _ = site
    app = UpgradeApp(UpgradeSession(state, UpgradeOptions(bundle=new)))

    async def scenario(app: UpgradeApp, pilot: Pilot[int]) -> None:
        await until(pilot, lambda: app.assessment is not None, timeout=60)
        assert isinstance(app.screen, PlanScreen)
        assert app.screen.query_one("#upgrade", Button).disabled
        assert app.assessment is not None and app.assessment.verdict == "refused"
        await pilot.press("enter")  # the focus is on Quit

    assert drive(app, scenario) == int(ExitCode.FAIL)


def test_the_plan_then_upgrade_asks_runs_and_shows_the_result(
    site: tuple[StateDir, Path, frozenset[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, new, failing = site
    ran: list[dict[str, Any]] = []

    def fake_run(work: UpgradeSession, plan: Any, shown: Any, data: Any, listener: Any, **options: Any) -> UpgradeRun:
        ran.append(options)
        for phase in ("preflight", "images", "k3s"):
            progress = PhaseProgress(phase, 2, started=0.0, outcome="successful", finished=1.0)
            listener(None, progress, None)
        report = Report(
            "upgrade", (Check("k3s", Status.PASS, "1 changed", group="deploy"),), title="Upgraded 1.0.0 → 1.1.0"
        )
        return UpgradeRun(report, "succeeded", ("the previous version's images stay until --finalize",))

    monkeypatch.setattr(upgrade_session, "run_upgrade", fake_run)
    app = UpgradeApp(UpgradeSession(state, UpgradeOptions(bundle=new, accept_failing=failing, skip_tags=("cluster",))))

    async def scenario(app: UpgradeApp, pilot: Pilot[int]) -> None:
        await until(pilot, lambda: app.assessment is not None, timeout=60)
        upgrade = app.screen.query_one("#upgrade", Button)
        assert not upgrade.disabled and app.focused is upgrade
        plan = shown(app, "#plan")
        assert "v1.34.1+k3s1 → v1.35.9+k3s1" in plan and "health before upgrade" in plan
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("escape")  # No: still the plan, nothing ran
        await until(pilot, lambda: isinstance(app.screen, PlanScreen))
        assert not ran
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, RunScreen) and app.finished)
        log = "\n".join(str(line.text) for line in app.screen.query_one("#log", RichLog).lines)
        assert "k3s:" in log and "preflight:" in log
        result = shown(app, "#result")
        assert "Upgraded 1.0.0 → 1.1.0" in result and "--finalize" in result
        await pilot.press("enter")  # Close

    assert drive(app, scenario) == int(ExitCode.OK)
    assert ran == [{"handle_signals": False}]  # the wizard cancels through the session, not signals


def test_quitting_while_it_runs_cancels_at_the_next_task(
    site: tuple[StateDir, Path, frozenset[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    state, new, failing = site
    started = threading.Event()

    def fake_run(work: UpgradeSession, plan: Any, shown: Any, data: Any, listener: Any, **options: Any) -> UpgradeRun:
        started.set()
        while not work.canceled:  # a phase running until the session is told to stop
            threading.Event().wait(0.05)
        report = Report("upgrade", (Check("k3s", Status.WARN, "canceled", "run it again", group="deploy"),))
        return UpgradeRun(report, "canceled", ())

    monkeypatch.setattr(upgrade_session, "run_upgrade", fake_run)
    app = UpgradeApp(UpgradeSession(state, UpgradeOptions(bundle=new, accept_failing=failing, skip_tags=("cluster",))))

    async def scenario(app: UpgradeApp, pilot: Pilot[int]) -> None:
        await until(pilot, lambda: app.assessment is not None, timeout=60)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await until(pilot, started.is_set)
        await pilot.press("ctrl+q")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await until(pilot, lambda: app.return_value is not None, timeout=15)

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)


def test_the_install_wizard_offers_the_upgrade_when_an_appliance_runs_here(
    site: tuple[StateDir, Path, frozenset[str]],
) -> None:
    """The new drive's install.sh opens `greenzone install --bundle NEW`: on an installed appliance it
    offers the upgrade first (Upgrade closes it and the upgrade's screens follow); No goes on to the
    install's first step. The same bundle, or an unfinished install, offers nothing."""
    from greenzone.commands.install import _upgrade_offer
    from greenzone.tui.app import wizard_state
    from greenzone.tui.screens.welcome import WelcomeScreen
    from tests.support.tui import ScriptedSession

    state, new, _ = site
    offered = _upgrade_offer(state, new)
    assert offered == (("1.0.0", "1.1.0"), new)
    assert _upgrade_offer(state, load_valid_answers(state.installed_answers).bundle.path) is None  # the same bundle
    assert _upgrade_offer(state, None) is None
    # An upgrade that did not finish is offered again, with its own bundle, whatever drive is given.
    from greenzone.upgrade import history
    from greenzone.upgrade.history import UpgradeRecord

    stopped = UpgradeRecord("20261126T170000Z", "2026-11-26T17:00:00+00:00", "1.0.0", "1.1.0", str(new), "0" * 64)
    history.start(state, stopped, {}, [])
    history.finish(state, stopped, "failed")
    assert _upgrade_offer(state, None) == (("1.0.0", "1.1.0"), new)
    history.remove(state, stopped)

    def make() -> GreenzoneApp:
        scripted = ScriptedSession(state.root)
        return GreenzoneApp(lambda: scripted, wizard_state(None, new), upgrade_offer=offered[0])

    async def upgrade(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        assert "1.0.0 is installed here, and this bundle is 1.1.0" in str(
            app.screen.query_one("#question", Static).content
        )
        await pilot.press("y")

    chosen = make()
    assert drive(chosen, upgrade) == int(ExitCode.OK) and chosen.upgrade_chosen

    async def decline(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        app.exit(0)

    declined = make()
    drive(declined, decline)
    assert not declined.upgrade_chosen

"""The wizard driven by Textual's Pilot: every screen forward and back, keyboard only, at 80×24.

The bundle is a real signed test bundle (verified for real), the GPUs come from the real pynvml
talking to the fake NVIDIA library (tests/fixtures/fake_nvml, loaded into this process), the host
facts are this machine's. Only the Ansible run is replayed (tests/tui_fixture.py says why).
"""

from __future__ import annotations

import asyncio
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from textual.pilot import Pilot
from textual.widgets import Button, Checkbox, Input, Label, RichLog, Select, SelectionList, Static

from greenzone.answers.files import load_valid_answers
from greenzone.bundle.manifest import BundleModel
from greenzone.results import Check, ExitCode, Report, Status
from greenzone.tui.app import GreenzoneApp, wizard_state
from greenzone.tui.screens.confirm import Confirm
from greenzone.tui.screens.done import DoneScreen
from greenzone.tui.screens.install import InstallScreen
from greenzone.tui.screens.preflight import PreflightScreen
from greenzone.tui.screens.review import ReviewScreen
from greenzone.tui.screens.settings import SettingsScreen
from greenzone.tui.screens.welcome import WelcomeScreen
from tests.support.deploy import make_bundle, public_key
from tests.support.paths import SCENARIOS
from tests.support.tui import HEALTHY, HOST_SHORTFALLS, ScriptedSession, load_fake_nvml, until

pytestmark = pytest.mark.slow  # each test drives the real app for seconds

Scenario = Callable[[GreenzoneApp, Pilot[int]], Awaitable[None]]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_bundle(tmp_path_factory.mktemp("tui") / "bundle")


def drive(app: GreenzoneApp, scenario: Scenario, size: tuple[int, int] = (80, 24)) -> int | None:
    async def main() -> None:
        async with app.run_test(size=size) as pilot:
            await scenario(app, pilot)

    asyncio.run(main())
    return app.return_value


def make_app(
    bundle: Path,
    state: Path,
    *,
    answers: Path | None = None,
    hold_at: str = "",
    fail_at: str = "",
    health_report: Report = HEALTHY,
) -> GreenzoneApp:
    scripted = ScriptedSession(
        state, forced=HOST_SHORTFALLS, hold_at=hold_at, fail_at=fail_at, health_report=health_report
    )
    return GreenzoneApp(lambda: scripted, wizard_state(answers, bundle))


async def quit_confirmed(app: GreenzoneApp, pilot: Pilot[int]) -> None:
    await pilot.press("ctrl+q")
    await until(pilot, lambda: isinstance(app.screen, Confirm))
    await pilot.press("y")


def text(app: GreenzoneApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


def next_enabled(app: GreenzoneApp) -> bool:
    return not app.screen.query_one("#next", Button).disabled


async def verified(app: GreenzoneApp, pilot: Pilot[int], key: Path) -> None:
    await until(pilot, lambda: isinstance(app.screen, WelcomeScreen))
    if not app.screen.query_one("#public-key", Input).value:
        app.screen.query_one("#public-key", Input).focus()
        await pilot.press(*str(key), "enter")
    await until(pilot, lambda: next_enabled(app))
    assert "every file matches the signed manifest" in text(app, "#verify-result")


async def to_settings(app: GreenzoneApp, pilot: Pilot[int], bundle: Path) -> None:
    await verified(app, pilot, public_key(bundle))
    await pilot.press("ctrl+n")
    await until(pilot, lambda: isinstance(app.screen, PreflightScreen) and next_enabled(app))
    await pilot.press("ctrl+n")
    await until(pilot, lambda: isinstance(app.screen, SettingsScreen))
    await pilot.press(*"ai.test.local")
    await until(pilot, lambda: next_enabled(app))


async def to_install(app: GreenzoneApp, pilot: Pilot[int], bundle: Path) -> None:
    """Straight through to the Install screen, typing only the host name."""
    await to_settings(app, pilot, bundle)
    await pilot.press("ctrl+n")
    await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
    await pilot.press("ctrl+n")
    await until(pilot, lambda: isinstance(app.screen, InstallScreen))


def test_walks_every_screen_forward_and_back_then_installs(bundle: Path, fake_nvml_dir: Path, tmp_path: Path) -> None:
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    app = make_app(bundle, tmp_path / "state")

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await verified(app, pilot, public_key(bundle))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, PreflightScreen) and next_enabled(app))
        assert "NVIDIA H100 80GB HBM3" in str(app.screen.query_one("#gpus").render_line(1))
        await pilot.press("escape")  # back to Welcome: the bundle stays verified, nothing re-runs
        await until(pilot, lambda: isinstance(app.screen, WelcomeScreen) and next_enabled(app))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, PreflightScreen) and next_enabled(app))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        assert not next_enabled(app)  # no host name yet
        assert text(app, "#hostname-error") == ""  # nothing typed yet: no error shouted
        await pilot.press("ctrl+n")  # Next says why, and shows what is missing
        await until(pilot, lambda: "not a valid host name" in text(app, "#hostname-error"))
        assert any("1 field(s) marked ↳" in n.message for n in app._notifications)
        await pilot.press(*"ai.test.local")
        await until(pilot, lambda: next_enabled(app))
        assert "✔ pass model gemma3:4b: needs 4.0 GiB per replica" in text(app, "#fit")
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        assert "hostname: ai.test.local" in app.screen.query_one("#answers-yaml").text  # type: ignore[attr-defined]
        await pilot.press("escape")  # back to Settings: what was typed is still there
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen))
        assert app.screen.query_one("#hostname", Input).value == "ai.test.local"
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, InstallScreen) and next_enabled(app))
        assert text(app, "#phases").count("✔") == 9
        assert "guardrails: [guardrails] guardrails : step 3" in "\n".join(app.state.log_lines)
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, DoneScreen))
        assert "The private AI appliance is installed." in text(app, "#outcome")
        assert "chat UI: https://ai.test.local/" in text(app, "#reach")
        await until(pilot, lambda: "Health: every layer works (1 pass)." in text(app, "#health"))
        await pilot.press("ctrl+n")

    assert drive(app, scenario) == int(ExitCode.OK)
    saved = tmp_path / "state" / "answers.yaml"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600


@pytest.mark.parametrize("scenario_name", ["gpu-lost", "driver-not-loaded"])
def test_a_failing_gpu_blocks_next_and_shows_the_remedy(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path, scenario_name: str
) -> None:
    load_fake_nvml(fake_nvml_dir, SCENARIOS / f"{scenario_name}.json")
    app = make_app(bundle, tmp_path / "state")

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await verified(app, pilot, public_key(bundle))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, PreflightScreen) and app.state.gate is not None)
        assert not next_enabled(app)
        blocking = text(app, "#blocking")
        assert "These must be fixed before installing" in blocking and "fix:" in blocking
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert isinstance(app.screen, PreflightScreen)  # Next stays shut, by key as by button
        await quit_confirmed(app, pilot)

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)


def test_prefilled_answers_validate_inline_and_save_the_file_the_unattended_mode_accepts(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path
) -> None:
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    answers = tmp_path / "site.yaml"
    answers.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "appliance": {"name": "site"},
                "network": {"hostname": "ai.site.local"},
                "bundle": {"path": str(bundle), "public_key": str(public_key(bundle))},
                "departments": [{"name": "legal", "gpu_quota": 1}],
            }
        )
    )
    app = make_app(bundle, tmp_path / "state", answers=answers)
    saved = tmp_path / "saved" / "site-from-wizard.yaml"

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await verified(app, pilot, public_key(bundle))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, PreflightScreen) and next_enabled(app))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen) and next_enabled(app))
        departments = app.screen.query_one("#departments", Input)
        assert departments.value == "legal:1:32Gi"
        departments.value = "legal:3:32Gi"  # one GPU here: the answer rules refuse the quota
        await until(pilot, lambda: not next_enabled(app))
        assert "GPU" in text(app, "#departments-error")
        departments.value = "legal:1:32Gi, hr:0:8Gi"
        await until(pilot, lambda: next_enabled(app))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        path = app.screen.query_one("#save-path", Input)
        path.value = str(saved)
        await pilot.click("#save")
        await until(pilot, lambda: saved.exists())
        assert f"greenzone install --answers {saved} --yes" in text(app, "#saved")
        await quit_confirmed(app, pilot)

    drive(app, scenario)
    assert load_valid_answers(saved) == app.state.answers
    assert [d.name for d in load_valid_answers(saved).departments] == ["legal", "hr"]


def test_remote_nodes_are_not_judged_by_this_machines_gpus(bundle: Path, fake_nvml_dir: Path, tmp_path: Path) -> None:
    """One local GPU, but the only node is remote: a quota of 3 GPUs is for that node's preflight to judge."""
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    answers = tmp_path / "site.yaml"
    answers.write_text(
        yaml.safe_dump(
            {
                "version": 1,
                "appliance": {"name": "site"},
                "nodes": [{"address": "10.0.0.5", "name": "gz-1"}],
                "network": {"hostname": "ai.site.local"},
                "bundle": {"path": str(bundle), "public_key": str(public_key(bundle))},
                "departments": [{"name": "legal", "gpu_quota": 3}],
            }
        )
    )
    app = make_app(bundle, tmp_path / "state", answers=answers)

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await verified(app, pilot, public_key(bundle))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, PreflightScreen) and next_enabled(app))
        summary = text(app, "#preflight-summary")
        assert "No node of the answers is this machine" in summary and "gz-1 (10.0.0.5, server)" in summary
        assert "0 pass" not in summary and not app.screen.query_one("#gpus").display
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen) and next_enabled(app))
        assert not text(app, "#departments-error")
        assert "No node is this machine" in text(app, "#fit")
        await quit_confirmed(app, pilot)

    drive(app, scenario)


def held_at_k3s(bundle: Path, fake_nvml_dir: Path, tmp_path: Path) -> tuple[GreenzoneApp, ScriptedSession]:
    """A wizard whose install will hold in the k3s phase until it is canceled."""
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    app = make_app(bundle, tmp_path / "state", hold_at="k3s")
    assert isinstance(app.session, ScriptedSession)
    return app, app.session


async def to_held_install(app: GreenzoneApp, pilot: Pilot[int], bundle: Path, session: ScriptedSession) -> None:
    await to_install(app, pilot, bundle)
    await until(pilot, lambda: isinstance(app.screen, InstallScreen) and session.holding.is_set())


def test_cancel_asks_first_then_stops_and_done_says_how_to_resume(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path
) -> None:
    app, session = held_at_k3s(bundle, fake_nvml_dir, tmp_path)

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await to_held_install(app, pilot, bundle, session)
        await pilot.click("#cancel")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("escape")  # "No" is the default: the install goes on
        await until(pilot, lambda: isinstance(app.screen, InstallScreen))
        assert not session._stop.is_set()
        await pilot.click("#cancel")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, InstallScreen) and next_enabled(app))
        assert "■ Install k3s" in text(app, "#phases")
        assert any("canceling" in line for line in app.state.log_lines)
        assert app.screen.query_one("#log", RichLog).lines
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, DoneScreen))
        assert "run `greenzone install` again to resume" in text(app, "#outcome").replace("Run", "run")
        await pilot.press("ctrl+n")

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)


def test_sigterm_during_the_install_cancels_then_quits_130(bundle: Path, fake_nvml_dir: Path, tmp_path: Path) -> None:
    """What the app's SIGTERM/SIGHUP handler does (the real signal is sent in test_tui_tmux.py)."""
    app, session = held_at_k3s(bundle, fake_nvml_dir, tmp_path)

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await to_held_install(app, pilot, bundle, session)
        app.terminate()
        await until(pilot, lambda: session._stop.is_set())
        await pilot.pause(5)  # the app exits by itself once the phase has stopped

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)
    assert app.state.result is not None and app.state.result.data["outcome"] == "canceled"


def test_a_failed_phase_is_named_on_done_with_its_fix(bundle: Path, fake_nvml_dir: Path, tmp_path: Path) -> None:
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    app = make_app(bundle, tmp_path / "state", fail_at="harbor")

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await to_install(app, pilot, bundle)
        await until(pilot, lambda: isinstance(app.screen, InstallScreen) and next_enabled(app))
        phases = text(app, "#phases")
        assert "✘ Harbor registry" in phases and "○ Push images into Harbor" in phases
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, DoneScreen))
        outcome = text(app, "#outcome")
        assert "failed in phase harbor: gz-1: harbor : step 3: the chart did not install" in outcome
        assert "run the same command again" in outcome
        assert not app.screen.query_one("#health").display  # nothing to check on a failed install
        await pilot.press("ctrl+n")

    assert drive(app, scenario) == int(ExitCode.FAIL)
    assert isinstance(app.session, ScriptedSession) and app.session.health_runs == 0


def test_done_says_whether_the_appliance_works_and_how_to_fix_what_does_not(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path
) -> None:
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    unhealthy = Report(
        "health",
        (
            Check("kubernetes API", Status.PASS, "v1.33.1+k3s1 answered", group="cluster"),
            Check("model gemma3:4b", Status.FAIL, "no answer within 5 s", "see the engine's log", group="inference"),
        ),
    )
    app = make_app(bundle, tmp_path / "state", health_report=unhealthy)

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await to_install(app, pilot, bundle)
        await until(pilot, lambda: isinstance(app.screen, InstallScreen) and next_enabled(app))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: "model gemma3:4b" in text(app, "#health"))
        shown = text(app, "#health")
        assert "Health: 1 pass, 1 fail; `greenzone health` shows it again:" in shown
        assert "✘ FAIL model gemma3:4b: no answer within 5 s\n    fix: see the engine's log" in shown
        assert "`greenzone support-bundle` collects what the vendor needs" in shown
        assert "The private AI appliance is installed." in text(app, "#outcome")  # the install itself succeeded
        await pilot.press("ctrl+n")

    assert drive(app, scenario) == int(ExitCode.OK)


def test_fits_80x24_and_survives_resizing(bundle: Path, fake_nvml_dir: Path, tmp_path: Path) -> None:
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    app = make_app(bundle, tmp_path / "state")

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await verified(app, pilot, public_key(bundle))
        for size in ((80, 24), (132, 43), (80, 24)):
            await pilot.resize_terminal(*size)
            await pilot.pause()
            for button in ("#back", "#next"):
                region = app.screen.query_one(button).region
                assert region.right <= size[0] and region.bottom <= size[1], (button, region, size)
        await quit_confirmed(app, pilot)

    drive(app, scenario)


def test_the_install_log_wraps_inside_its_box_and_again_after_a_resize(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path
) -> None:
    """Ansible's lines are long (a task name, its host, a message): none may lose its end."""
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    app = make_app(bundle, tmp_path / "state")
    long = "harbor: [gz-1] Wait for Harbor core to report every component healthy " + "0123456789" * 12 + " END"

    def shown(log: RichLog) -> str:
        width = log.scrollable_content_region.width
        assert all(strip.cell_length <= width for strip in log.lines), (width, [s.text for s in log.lines])
        return "".join(strip.text.rstrip() + " " for strip in log.lines)

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await to_install(app, pilot, bundle)
        await until(pilot, lambda: isinstance(app.screen, InstallScreen) and next_enabled(app))
        app.screen._log(long)  # type: ignore[attr-defined]
        await pilot.pause()
        log = app.screen.query_one("#log", RichLog)
        assert "0123456789" * 3 in shown(log).replace(" ", "") and shown(log).rstrip().endswith("END")
        for size in ((60, 24), (132, 43)):
            await pilot.resize_terminal(*size)
            await pilot.pause(0.2)
            assert shown(log).replace(" ", "").endswith(long.replace(" ", ""))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, DoneScreen))
        await pilot.press("ctrl+n")

    drive(app, scenario)


def test_no_color_is_respected(bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Textual drops colours when NO_COLOR is set; every status the wizard shows has a word beside it."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(bundle, tmp_path / "state")
    assert app.no_color
    from greenzone.tui.widgets import GLYPH

    assert all(any(word in glyph.lower() for word in ("pass", "warn", "fail", "skip")) for glyph in GLYPH.values())


VLLM_MODELS = (
    BundleModel(name="google/gemma-3-4b-it", engine="vllm", size_bytes=1024, vram_bytes=12 * 2**30),
    BundleModel(name="meta-llama/Llama-3.1-8B-Instruct", engine="vllm", size_bytes=1024, vram_bytes=18 * 2**30),
)


def models_offered(app: GreenzoneApp) -> tuple[list[str], list[str]]:
    """(every model in the list, the ones selected)."""
    models = app.screen.query_one("#models", SelectionList)
    offered = [str(models.get_option_at_index(i).value) for i in range(models.option_count)]
    return offered, [str(value) for value in models.selected]


def test_the_model_list_follows_the_engine_and_next_waits_for_a_servable_model(
    fake_nvml_dir: Path, tmp_path: Path
) -> None:
    """Switching the engine offers only the bundle's models for it; the Ollama tag chosen before
    never reaches a vLLM answer file; switching back restores a valid choice."""
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    bundle = make_bundle(tmp_path / "bundle", extra_models=VLLM_MODELS)
    app = make_app(bundle, tmp_path / "state")

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await to_settings(app, pilot, bundle)
        assert models_offered(app) == (["gemma3:4b"], ["gemma3:4b"])
        app.screen.query_one("#engine", Select).value = "vllm"
        await until(pilot, lambda: models_offered(app)[0] == [model.name for model in VLLM_MODELS])
        assert models_offered(app)[1] == ["google/gemma-3-4b-it"]
        assert app.state.document["inference"] == {"engine": "vllm", "models": ["google/gemma-3-4b-it"]} | {
            key: value for key, value in app.state.document["inference"].items() if key not in ("engine", "models")
        }
        await until(pilot, lambda: next_enabled(app))
        app.screen.query_one("#models", SelectionList).deselect_all()
        await until(pilot, lambda: not next_enabled(app))
        app.screen.query_one("#engine", Select).value = "ollama"
        await until(pilot, lambda: models_offered(app) == (["gemma3:4b"], ["gemma3:4b"]) and next_enabled(app))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        assert app.state.answers is not None and app.state.answers.inference.models == ["gemma3:4b"]
        await quit_confirmed(app, pilot)

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)


def test_a_bundle_without_a_model_for_the_engine_says_so_and_blocks_next(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path
) -> None:
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    app = make_app(bundle, tmp_path / "state")

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await to_settings(app, pilot, bundle)
        app.screen.query_one("#engine", Select).value = "vllm"
        await until(pilot, lambda: "holds no model for vLLM" in text(app, "#engine-error"))
        assert "choose Ollama, whose models it holds" in text(app, "#engine-error")
        assert models_offered(app) == ([], [])
        assert not next_enabled(app)
        await quit_confirmed(app, pilot)

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)


@pytest.mark.parametrize("way", ["palette", "ctrl+c"])
def test_every_way_out_during_an_install_asks_first(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path, way: str
) -> None:
    """The command palette's Quit and Ctrl+C ask the question Ctrl+Q asks; "No" keeps the install
    running, "Yes" cancels at the next task and quits with 130."""
    app, session = held_at_k3s(bundle, fake_nvml_dir, tmp_path)

    async def leave() -> None:
        if way == "palette":
            await app.action_quit()  # what the palette's "Quit" command runs
        else:
            await pilot_ref[0].press("ctrl+c")

    pilot_ref: list[Pilot[int]] = []

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        pilot_ref.append(pilot)
        await to_held_install(app, pilot, bundle, session)
        await leave()
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, InstallScreen))
        assert not session._stop.is_set() and app.is_running
        await leave()
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        await pilot.press("y")
        await until(pilot, lambda: session._stop.is_set())
        await pilot.pause(5)

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)


def test_where_am_i_and_what_has_focus_show_without_colour(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Under NO_COLOR: each screen names its step in the header; the focused field's label is in
    reverse video; focusing a filled field keeps its text (no select-all that the next key wipes)."""
    monkeypatch.setenv("NO_COLOR", "1")
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    app = make_app(bundle, tmp_path / "state")

    def label_reversed(name: str) -> bool:
        return bool(app.screen.query_one(f"#row-{name} .field-label", Label).rich_style.reverse)

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await until(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        assert app.screen.sub_title == "Step 1 of 6 · Bundle"
        await to_settings(app, pilot, bundle)
        assert app.screen.sub_title == "Step 3 of 6 · Settings"
        assert label_reversed("hostname") and not label_reversed("appliance_name")
        await pilot.press("shift+tab")  # to the appliance name, which holds "greenzone"
        await until(pilot, lambda: label_reversed("appliance_name") and not label_reversed("hostname"))
        await pilot.press("2")  # with select-all on focus this replaced the whole name
        assert sorted(app.screen.query_one("#appliance_name", Input).value) == sorted("greenzone2")
        await quit_confirmed(app, pilot)

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)


def test_review_states_the_effective_choices_defaults_included(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path
) -> None:
    """The saved file leaves defaults out (engine, egress, dashboards); the summary above it does not."""
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    app = make_app(bundle, tmp_path / "state")

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await to_settings(app, pilot, bundle)
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, ReviewScreen))
        summary = text(app, "#summary")
        for line in (
            "Engine       Ollama",
            "Models       gemma3:4b",
            "Egress       deny (DNS only)",
            "Dashboards   yes",
        ):
            assert line in summary, summary
        assert "engine" not in app.screen.query_one("#answers-yaml").text  # type: ignore[attr-defined]
        await quit_confirmed(app, pilot)

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)


def test_an_unfinished_install_is_offered_for_resuming_with_its_saved_answers(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path
) -> None:
    """What `greenzone install` offers after a cancel (commands/install.py finds the saved answers):
    Resume brings back every setting; the wizard does not start empty."""
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    saved = tmp_path / "saved.yaml"
    saved.write_text(
        f"version: 1\nappliance: {{name: resumed}}\nnetwork: {{hostname: ai.resumed.local}}\n"
        f"bundle: {{path: {bundle}, public_key: {public_key(bundle)}}}\n"
    )
    scripted = ScriptedSession(tmp_path / "state", forced=HOST_SHORTFALLS)
    app = GreenzoneApp(lambda: scripted, wizard_state(None, bundle), resume=lambda: wizard_state(saved, bundle))

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        question = str(app.screen.query_one("#question", Static).render())
        assert "did not finish" in question and "back to clean" in question
        await pilot.press("y")
        await verified(app, pilot, public_key(bundle))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, PreflightScreen) and next_enabled(app))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, SettingsScreen) and next_enabled(app))
        assert app.screen.query_one("#hostname", Input).value == "ai.resumed.local"
        assert app.screen.query_one("#appliance_name", Input).value == "resumed"
        await quit_confirmed(app, pilot)

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)


def test_ticked_and_unticked_differ_in_shape_and_space_ticks_the_item_under_the_cursor(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path
) -> None:
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    app = make_app(bundle, tmp_path / "state")

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await to_settings(app, pilot, bundle)
        models = app.screen.query_one("#models", SelectionList)
        assert models.render_line(0).text.startswith("  [x] gemma3:4b")
        models.focus()
        await pilot.pause()
        assert models.render_line(0).text.startswith("› [x] gemma3:4b")  # where the cursor is, without colour
        await pilot.press("space")  # no ↓ first: the cursor starts on the first item
        await until(pilot, lambda: models.render_line(0).text.startswith("› [ ] gemma3:4b") and not next_enabled(app))
        dashboards = app.screen.query_one("#monitoring", Checkbox)
        assert "[x]" in str(dashboards.render())
        dashboards.value = False
        await pilot.pause()
        assert "[ ]" in str(dashboards.render())
        await quit_confirmed(app, pilot)

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)


def test_a_failing_check_says_why_next_is_shut_and_can_be_accepted_like_force_preflight(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path
) -> None:
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "gpu-lost.json")
    app = make_app(bundle, tmp_path / "state")
    session = app.session
    assert isinstance(session, ScriptedSession)

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await verified(app, pilot, public_key(bundle))
        await pilot.press("ctrl+n")
        await until(pilot, lambda: isinstance(app.screen, PreflightScreen) and app.state.gate is not None)
        gate = app.state.gate
        assert gate is not None and not gate.open
        failing = sorted(check.name for check in gate.blocking)
        await pilot.press("ctrl+n")
        await until(pilot, lambda: any("Next is blocked by failing checks" in n.message for n in app._notifications))
        assert isinstance(app.screen, PreflightScreen)
        await pilot.click("#accept")
        await until(pilot, lambda: isinstance(app.screen, Confirm))
        question = str(app.screen.query_one("#question", Static).render())
        assert f"--force-preflight {','.join(failing)}" in question
        await pilot.press("y")
        await until(pilot, lambda: isinstance(app.screen, PreflightScreen) and next_enabled(app))
        assert set(failing) <= session.forced
        accepted = [check for check in app.state.gate.checks if check.name in failing]  # type: ignore[union-attr]
        assert accepted and all(
            check.status.value == "warn" and check.detail.endswith("(overridden by --force-preflight)")
            for check in accepted
        )
        assert "nothing blocks the install" in text(app, "#blocking")
        await quit_confirmed(app, pilot)

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)


def test_welcome_guesses_the_key_beside_the_bundle_and_believes_nothing_unverified(
    fake_nvml_dir: Path, tmp_path: Path
) -> None:
    """`<bundle>.pub` beside the bundle is taken as the key; a tampered bundle shows no version, no
    size and no full bar, only why it does not verify; a key that is not there says so at once."""
    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    bundle = make_bundle(tmp_path / "bundle")
    app = make_app(bundle, tmp_path / "state")

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await until(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        key = app.screen.query_one("#public-key", Input)
        assert key.value == ""
        await pilot.click("#verify")
        await until(pilot, lambda: next_enabled(app))
        assert key.value == str(public_key(bundle))
        info = text(app, "#bundle-info")
        assert info.startswith("Bundle 0.1.0 (") and " UTC): " in info and "not verified" not in info

        key.value = str(tmp_path / "missing.pub")
        key.focus()
        await pilot.press("enter")
        await until(pilot, lambda: "missing.pub is not a file" in text(app, "#verify-result"))
        assert not app.screen.query_one("#verify-progress").display and text(app, "#bundle-info") == ""
        assert not next_enabled(app)

        manifest = bundle / "bundle.yaml"
        manifest.write_text(manifest.read_text().replace("product_version: 0.1.0", "product_version: 9.9.9"))
        key.value = str(public_key(bundle))
        key.focus()
        await pilot.press("enter")
        await until(pilot, lambda: "does not verify" in text(app, "#verify-result"))
        assert "9.9.9" not in text(app, "#bundle-info") and not app.screen.query_one("#verify-progress").display
        assert not next_enabled(app)
        await quit_confirmed(app, pilot)

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)


def reset_wizard(tmp_path: Path, bundle: Path, offer: Any) -> GreenzoneApp:
    """The wizard as `greenzone install` opens it after an unfinished install, with a reset offer."""
    saved = tmp_path / "saved.yaml"
    saved.write_text("version: 1\nappliance: {name: halfway}\n")
    scripted = ScriptedSession(tmp_path / "state", forced=HOST_SHORTFALLS)
    return GreenzoneApp(
        lambda: scripted, wizard_state(None, bundle), resume=lambda: wizard_state(saved, bundle), reset=lambda: offer
    )


async def to_the_reset(app: GreenzoneApp, pilot: Pilot[int]) -> None:
    """No to resuming, yes to the reset it then offers."""
    await until(pilot, lambda: isinstance(app.screen, Confirm))
    await pilot.press("escape")
    await until(pilot, lambda: isinstance(app.screen, Confirm) and "back to clean first" in text(app, "#question"))
    await pilot.press("y")


def test_an_unfinished_install_not_resumed_offers_the_reset_behind_the_appliances_name(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path
) -> None:
    """No to resuming offers `greenzone reset` (commands/install.py builds the offer from the installed
    answers; its `run` is `commands.reset.run_reset`, proven over SSH in tests/test_reset.py). Here the
    run is a recorder: the screen's gating, its refusal to quit halfway, and the way on are what is tested."""
    import threading

    from greenzone.tui.screens.reset import ResetOffer, ResetScreen

    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    release = threading.Event()
    calls: list[str] = []

    def run() -> Report:
        calls.append("reset")
        release.wait(10)
        return Report("reset", (Check("nodes", Status.PASS, "3 change(s) made on the nodes", group="reset"),), {})

    app = reset_wizard(
        tmp_path, bundle, ResetOffer("halfway", (("gz-node-1", "k3s removed by its k3s-uninstall.sh"),), run)
    )

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await to_the_reset(app, pilot)
        await until(pilot, lambda: isinstance(app.screen, ResetScreen))
        assert "k3s removed by its k3s-uninstall.sh" in text(app, "#reset-plan")
        reset = app.screen.query_one("#reset", Button)
        await pilot.press(*"halfwa")
        await pilot.pause()
        assert reset.disabled, "a name typed short must not open the reset"
        await pilot.press("y")
        await until(pilot, lambda: not reset.disabled)
        await pilot.press("enter")
        await until(pilot, lambda: calls == ["reset"])
        await pilot.press("ctrl+q")  # halfway: refused, the reset goes on
        await pilot.pause()
        assert isinstance(app.screen, ResetScreen) and app.screen.running
        release.set()
        await until(pilot, lambda: str(reset.label) == "Continue")
        assert "3 change(s) made on the nodes" in text(app, "#reset-result")
        await pilot.click("#reset")
        await until(pilot, lambda: isinstance(app.screen, WelcomeScreen))
        await quit_confirmed(app, pilot)

    assert drive(app, scenario) == int(ExitCode.INTERRUPTED)


def test_a_signal_during_the_wizards_reset_waits_for_it_and_a_stopped_reset_is_printed_after(
    bundle: Path, fake_nvml_dir: Path, tmp_path: Path
) -> None:
    import threading

    from greenzone.tui.screens.reset import ResetOffer, ResetScreen

    load_fake_nvml(fake_nvml_dir, SCENARIOS / "h100-1x.json")
    release = threading.Event()
    stopped = Check("nodes", Status.FAIL, "the reset stopped: gz-node-2 unreachable", "fix gz-node-2", "reset")

    def run() -> Report:
        release.wait(10)
        return Report("reset", (stopped,), {}, title="Reset stopped")

    app = reset_wizard(tmp_path, bundle, ResetOffer("halfway", (("gz-node-1", "k3s removed"),), run))

    async def scenario(app: GreenzoneApp, pilot: Pilot[int]) -> None:
        await to_the_reset(app, pilot)
        await until(pilot, lambda: isinstance(app.screen, ResetScreen))
        await pilot.press(*"halfway", "enter")
        await until(pilot, lambda: isinstance(app.screen, ResetScreen) and app.screen.running)
        app.terminate()  # SIGTERM's path: the reset cannot stop halfway, the wizard quits when it ends
        await pilot.pause()
        assert isinstance(app.screen, ResetScreen) and app.screen.running and app.terminating
        release.set()
        # The worker ends the reset, then the wizard quits on its own: wait for that, not for the pilot's exit.
        await until(pilot, lambda: app.return_value is not None)

    assert drive(app, scenario) == int(ExitCode.FAIL)
    assert app.reset_report is not None and app.reset_report.checks == (stopped,)

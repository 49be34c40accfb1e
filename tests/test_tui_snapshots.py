"""One snapshot per wizard screen at 80×24 (pytest-textual-snapshot; `--snapshot-update` rewrites them
after a deliberate change, and the diff of the SVGs under __snapshots__/ is what a reviewer reads).

Everything shown must be the same on every machine, so the facts are fixed (a 16-core server with
one H100, as NVML would describe it), the bundle sits at a fixed path with a fixed creation date,
and the install is the replay of tests/tui_fixture.py. Behaviour is tested in test_tui_pilot.py.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from greenzone.bundle.manifest import Manifest
from greenzone.preflight.facts_model import DiskFacts, Facts, GpuFacts, HostFacts, NvmlFacts, PortFacts
from greenzone.tui.app import GreenzoneApp, wizard_state
from greenzone.tui.screens.done import DoneScreen
from greenzone.tui.screens.install import InstallScreen
from greenzone.tui.screens.preflight import PreflightScreen
from greenzone.tui.screens.review import ReviewScreen
from greenzone.tui.screens.settings import SettingsScreen
from greenzone.tui.screens.welcome import WelcomeScreen
from tests.support.deploy import make_bundle
from tests.support.tui import ScriptedSession, until

pytestmark = pytest.mark.slow  # each snapshot starts the real app

ROOT = Path("/tmp/greenzone-tui-snapshots")
GiB = 2**30
SnapCompare = Callable[..., bool]


def server_facts(*, gpu_lost: bool = False) -> Facts:
    h100 = GpuFacts(
        index=0,
        name="NVIDIA H100 80GB HBM3",
        memory_total=80 * GiB,
        memory_used=512 * 2**20,
        compute_capability=(9, 0),
        mig_current=False,
        temperature_c=34,
        slowdown_temperature_c=87,
        ecc_current=True,
        ecc_uncorrected_volatile=0,
        persistence_mode=True,
        lost=gpu_lost,
    )
    host = HostFacts(
        cpu_cores=16,
        memory_bytes=64 * GiB,
        swap_bytes=0,
        os_id="ubuntu",
        os_version="24.04",
        os_name="Ubuntu 24.04.1 LTS",
        kernel="6.8.0-45-generic",
        arch="x86_64",
        cgroup_version=2,
        modules={"br_netfilter": "loaded", "overlay": "loaded"},
        nouveau_loaded=False,
        nvidia_pci_devices=("0000:17:00.0",),
        disks=(
            DiskFacts("state dir", "/var/lib/greenzone", "/var/lib", 800 * GiB, 900 * GiB),
            DiskFacts("k3s data dir", "/var/lib/rancher/k3s", "/var/lib", 800 * GiB, 900 * GiB),
        ),
        ports=tuple(
            PortFacts(port, purpose, False) for port, purpose in ((6443, "k3s API server"), (443, "HTTPS ingress"))
        ),
        existing=(),
        time_sync="synchronized",
    )
    return Facts(host, NvmlFacts("ok", "", "550.54.15", "12.4", (h100,)))


class FixedSession(ScriptedSession):
    def __init__(self, *args: Any, facts: Facts, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._facts = facts

    def manifest(self, bundle: Path) -> Manifest:
        return super().manifest(bundle).model_copy(update={"created": "2026-11-01T09:00:00+00:00"})

    def facts(self, answers: object) -> Facts:
        return self._facts


@pytest.fixture(scope="module")
def bundle() -> Path:
    shutil.rmtree(ROOT, ignore_errors=True)
    return make_bundle(ROOT / "bundle")


def app(bundle: Path, *, gpu_lost: bool = False) -> GreenzoneApp:
    shutil.rmtree(ROOT / "state", ignore_errors=True)
    session = FixedSession(ROOT / "state", facts=server_facts(gpu_lost=gpu_lost))
    return GreenzoneApp(lambda: session, wizard_state(None, bundle))


async def _to_welcome(pilot: Pilot[Any]) -> GreenzoneApp:
    app = pilot.app
    assert isinstance(app, GreenzoneApp)
    await until(pilot, lambda: isinstance(app.screen, WelcomeScreen))
    app.screen.query_one("#public-key").focus()
    await pilot.press(*str(ROOT / "bundle.pub"), "enter")
    await until(pilot, lambda: app.state.bundle_ok)
    return app


async def _forward(pilot: Pilot[Any], screen: type, *, typed: str = "") -> None:
    app = pilot.app
    await pilot.press("ctrl+n")
    await until(pilot, lambda: isinstance(app.screen, screen))
    if typed:
        await pilot.press(*typed)
    await pilot.pause(0.2)


async def to_preflight(pilot: Pilot[Any]) -> None:
    await _to_welcome(pilot)
    await _forward(pilot, PreflightScreen)
    await until(pilot, lambda: pilot.app.state.gate is not None)  # type: ignore[attr-defined]


async def to_settings(pilot: Pilot[Any]) -> None:
    await to_preflight(pilot)
    await _forward(pilot, SettingsScreen)


async def to_review(pilot: Pilot[Any]) -> None:
    await to_settings(pilot)
    await pilot.press(*"ai.st-mary.local")
    await _forward(pilot, ReviewScreen)


async def to_install(pilot: Pilot[Any]) -> None:
    await to_review(pilot)
    await _forward(pilot, InstallScreen)
    await until(pilot, lambda: not pilot.app.screen.query_one("#next").disabled)


async def to_done(pilot: Pilot[Any]) -> None:
    await to_install(pilot)
    await _forward(pilot, DoneScreen)


def test_welcome(snap_compare: SnapCompare, bundle: Path) -> None:
    assert snap_compare(app(bundle), run_before=_to_welcome)


def test_preflight(snap_compare: SnapCompare, bundle: Path) -> None:
    assert snap_compare(app(bundle), run_before=to_preflight)


def test_preflight_blocked_by_a_lost_gpu(snap_compare: SnapCompare, bundle: Path) -> None:
    assert snap_compare(app(bundle, gpu_lost=True), run_before=to_preflight)


async def to_settings_after_next(pilot: Pilot[Any]) -> None:
    """Next pressed with the host name still empty: it says why and shows the field's error."""
    await to_settings(pilot)
    await pilot.press("ctrl+n")
    await pilot.pause(0.2)


def test_settings_with_inline_errors(snap_compare: SnapCompare, bundle: Path) -> None:
    assert snap_compare(app(bundle), run_before=to_settings_after_next)


def test_review(snap_compare: SnapCompare, bundle: Path) -> None:
    assert snap_compare(app(bundle), run_before=to_review)


def test_install_finished(snap_compare: SnapCompare, bundle: Path) -> None:
    assert snap_compare(app(bundle), run_before=to_install)


def test_done(snap_compare: SnapCompare, bundle: Path) -> None:
    assert snap_compare(app(bundle), run_before=to_done)

"""What the wizard tests share: the app on a test bundle, the fake NVIDIA driver loaded in-process,
and a session whose `run` replays phase progress instead of running Ansible.

The replay calls the wizard's listener exactly as `InstallSession.run` does (tracker updated, then
the listener), with the runner's own `PhaseProgress` objects; the real runner under the wizard is
proven by the tmux test (tests/test_tui_tmux.py) and the unattended tests on the SSH test host.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from greenzone.answers.model import Answers
from greenzone.bundle.manifest import Manifest
from greenzone.deploy.ansible_events import Failure, PhaseProgress
from greenzone.deploy.report import phase_checks
from greenzone.install.session import InstallRun, InstallSession, PhaseGate, Prepared, ProgressListener
from greenzone.results import Check, Report, Status
from greenzone.statedir import StateDir

_LOADED: set[Path] = set()
# This machine's own shortfalls (2 cores, a small disk): not what these tests are about.
HOST_SHORTFALLS = frozenset({"cpu", "memory", "disk k3s data dir", "disk state dir", "os"})  # a Debian machine


def load_fake_nvml(library_dir: Path, scenario: Path) -> None:
    """The real pynvml in this process talks to the fake library: preloaded under the real soname,
    pynvml's own `CDLL("libnvidia-ml.so.1")` finds it; the scenario file is read at nvmlInit."""
    library = library_dir / "libnvidia-ml.so.1"
    if library not in _LOADED:
        ctypes.CDLL(str(library), mode=ctypes.RTLD_GLOBAL)
        _LOADED.add(library)
    os.environ["FAKE_NVML_CONFIG"] = str(scenario)


HEALTHY = Report("health", (Check("kubernetes API", Status.PASS, "v1.33.1+k3s1 answered", group="cluster"),))


class ScriptedSession(InstallSession):
    """`run` replays three tasks per pending phase; `fail_at` fails one, `hold_at` waits for cancel();
    `health` answers `health_report` (the real run after an install is tested in test_install_units)."""

    def __init__(
        self,
        state_dir: Path,
        *,
        fail_at: str = "",
        hold_at: str = "",
        forced: frozenset[str] = frozenset(),
        health_report: Report = HEALTHY,
    ) -> None:
        super().__init__(StateDir(state_dir), forced=forced)
        self.fail_at, self.hold_at = fail_at, hold_at
        self.health_report = health_report
        self.health_runs = 0
        self.holding = threading.Event()
        self._stop = threading.Event()

    def cancel(self) -> None:
        super().cancel()
        self._stop.set()

    def health(self, answers: Answers, manifest: Manifest) -> Report:
        self.health_runs += 1
        return self.health_report

    def run(
        self, prepared: Prepared, listener: ProgressListener | None = None, gate: PhaseGate | None = None
    ) -> InstallRun:
        tracker, ran = prepared.tracker, []

        def tell(progress: PhaseProgress, line: str | None) -> None:
            tracker.update(progress)
            if listener is not None:
                listener(tracker, progress, line)

        for view in tracker.views:
            if view.state == "skipped":
                continue
            progress = PhaseProgress(view.phase.name, 3, started=time.time())
            ran.append(progress)
            for index in range(1, 4):
                progress.task_index, progress.task = index, f"{view.phase.name} : step {index}"
                progress.ok += 1
                tell(progress, f"[{view.phase.name}] {progress.task}")
                if view.phase.name == self.hold_at and index == 2:
                    self.holding.set()
                    self._stop.wait(30)
                if self._stop.is_set():
                    progress.outcome, progress.finished = "canceled", time.time()
                    break
            # A replayed phase takes a fixed 0.3 s whatever the machine's load, so the seconds the
            # screens show (and their snapshots) do not depend on it.
            if progress.outcome == "running" and view.phase.name == self.fail_at:
                progress.failed = 1
                progress.failures.append(Failure("gz-1", f"{view.phase.name} : step 3", "the chart did not install"))
                progress.outcome, progress.finished = "failed", progress.started + 0.3
            elif progress.outcome == "running":
                progress.outcome, progress.finished = "successful", progress.started + 0.3
            tell(progress, progress.summary())
            if progress.outcome != "successful":
                break
        names = [view.phase.name for view in tracker.views]
        checks = phase_checks(names, ran, prepared.state, prepared.inputs, self.state_dir.install_log, check=self.check)
        report = Report(
            "install",
            checks,
            data={"outcome": tracker.outcome, "check": self.check, "changed": 0, "state_dir": str(self.state_dir)},
            title="Install",
        )
        return InstallRun(report, tuple(ran))


async def until(pilot: Pilot[Any], condition: Callable[[], bool], timeout: float = 15.0) -> None:
    """Let the app work (workers run in threads) until `condition` holds."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the wizard never got there"
        await pilot.pause(0.05)
        await asyncio.sleep(0)

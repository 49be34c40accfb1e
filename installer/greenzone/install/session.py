"""The steps of one install, shared by the wizard and the unattended mode.

Each step is a method the wizard calls from its own screen (in a worker thread) and the unattended
mode calls in a row: verify the bundle, read this machine's facts, judge them, plan, then run the
phases. Nothing here prints; progress goes to the caller's listener through the one progress model
(`install/tracker.py`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from greenzone.answers.model import Answers
from greenzone.bundle.manifest import Manifest, read_bundle_manifest
from greenzone.deploy.events import PhaseProgress
from greenzone.deploy.plan import Phase, plan
from greenzone.deploy.report import phase_checks
from greenzone.deploy.runner import PlaybookRunner, run_phases
from greenzone.deploy.state import InstallState, answers_identity, inputs_digest
from greenzone.deploy.workspace import PLAYBOOKS_DIR, STATE_FILE, prepare
from greenzone.install.gate import Gate, preflight_gate
from greenzone.install.tracker import Tracker
from greenzone.preflight.facts_model import Facts
from greenzone.preflight.rules import preflight_checks, required_ports
from greenzone.results import Check, Report, Status

ProgressListener = Callable[[Tracker, PhaseProgress, str | None], None]


def has_local_node(answers: Answers | None) -> bool:
    """Local facts judge only a machine that is itself a node; remote nodes are judged by the preflight phase."""
    return answers is None or any(node.address == "local" for node in answers.nodes)


@dataclass
class Prepared:
    """Everything decided before the first change: the plan and what a resume skips. Nothing is written yet."""

    answers: Answers
    source: Path
    bundle: Path
    phases: tuple[Phase, ...]
    pending: list[str]
    inputs: str
    state: InstallState
    tracker: Tracker


@dataclass
class InstallSession:
    state_dir: Path
    check: bool = False
    skip_tags: tuple[str, ...] = ()
    forced: frozenset[str] = frozenset()
    environ: Mapping[str, str] | None = None
    _runner: PlaybookRunner | None = field(default=None, init=False, repr=False)
    _canceled: bool = field(default=False, init=False, repr=False)

    # --- before anything changes -----------------------------------------------------------------

    def manifest(self, bundle: Path) -> Manifest:
        return read_bundle_manifest(bundle)[1]

    def verify(
        self,
        bundle: Path,
        public_key: Path,
        *,
        on_total: Callable[[int], None] | None = None,
        on_advance: Callable[[int], None] | None = None,
    ) -> Report:
        from greenzone.bundle.verify import verify_bundle

        return verify_bundle(bundle, public_key, progress=on_advance, on_total=on_total)

    def facts(self, answers: Answers | None) -> Facts:
        from greenzone.preflight.gpu import read_nvml
        from greenzone.preflight.host import read_host

        started = time.monotonic()
        host = read_host(required_ports(answers), self.state_dir)
        nvml = read_nvml()
        return Facts(host, nvml, {"seconds": round(time.monotonic() - started, 3)})

    def preflight(self, facts: Facts | None, answers: Answers | None, manifest: Manifest | None) -> Gate:
        if facts is None:
            checks: tuple[Check, ...] = (
                Check(
                    "this machine",
                    Status.SKIP,
                    "no node of the answers is this machine; the preflight phase checks every node over SSH",
                    group="host",
                ),
            )
        else:
            checks = preflight_checks(facts, answers, manifest)
        return preflight_gate(checks, self.forced)

    # --- the install ------------------------------------------------------------------------------

    def prepare(self, answers: Answers, source: Path, bundle: Path) -> Prepared:
        """The plan and the phases a resume skips; reads the install state, writes nothing."""
        manifest_text, _ = read_bundle_manifest(bundle)
        phases = plan(answers)
        names = [phase.name for phase in phases]
        state = InstallState.load(self.state_dir / STATE_FILE)
        inputs = inputs_digest(answers_identity(answers), manifest_text)
        pending = names if self.check else state.pending(names, inputs)
        tracker = Tracker.for_plan(phases, pending, time.time(), check=self.check)
        return Prepared(answers, source, bundle, phases, pending, inputs, state, tracker)

    def run(self, prepared: Prepared, listener: ProgressListener | None = None) -> Report:
        workspace = prepare(
            prepared.answers,
            self.state_dir,
            source=prepared.source.as_posix(),
            bundle=prepared.bundle,
            environ=self.environ,
        )
        extravars = {**workspace.extravars, "greenzone_force_preflight": sorted(self.forced)}
        self._runner = PlaybookRunner(PLAYBOOKS_DIR, workspace.inventory_file, extravars, workspace.log_file)
        if self._canceled:
            self._runner.cancel()
        tracker = prepared.tracker
        tracker.started = time.time()

        def on_progress(progress: PhaseProgress, line: str | None) -> None:
            tracker.update(progress)
            if listener is not None:
                listener(tracker, progress, line)

        names = [phase.name for phase in prepared.phases]
        ran = run_phases(
            self._runner,
            names,
            prepared.state,
            prepared.inputs,
            check=self.check,
            skip_tags=self.skip_tags,
            listener=on_progress,
        )
        checks = phase_checks(names, ran, prepared.state, prepared.inputs, workspace.log_file)
        mode = " (check mode: nothing changed)" if self.check else ""
        return Report(
            command="install",
            checks=checks,
            data={
                "state_dir": str(self.state_dir),
                "outcome": tracker.outcome,
                "check": self.check,
                "changed": sum(progress.changed for progress in ran),
            },
            title=f"Install{mode}",
        )

    def cancel(self) -> None:
        """From any thread: the running phase stops at its next event and is recorded as canceled."""
        self._canceled = True
        if self._runner is not None:
            self._runner.cancel()


def urls(answers: Answers) -> dict[str, str]:
    """Where people reach the appliance once it runs (the Done screen and the unattended summary)."""
    port = "" if answers.registry.port == 443 else f":{answers.registry.port}"
    found = {"registry (Harbor)": f"https://{answers.registry_hostname()}{port}"}
    if answers.inference.chat_ui:
        found["chat UI"] = f"https://{answers.network.hostname}/"
    if answers.monitoring.enabled:
        found["dashboards (Grafana)"] = f"https://{answers.network.hostname}/grafana"
    return found

"""The one front door for every flow that changes the appliance.

`InstallSession` owns each step of the sequence: this machine's facts and the preflight gate, bundle
verification, the plan and what a resume skips, the workspace the playbooks read, the phase runner,
cancellation (from the wizard's button, Ctrl-C or SIGTERM) and the recorded state; a front end
decides only which steps it shows and how. The wizard, the
unattended install and `greenzone deploy` are front ends over it, and nothing else runs a phase:
a second copy of this sequence is how the front ends drifted apart before (one dropped the forced
preflight names, one read the manifest without validating it, one ignored signals). Nothing here
prints; progress goes to the caller's listener through the one progress model (`install/tracker.py`).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from greenzone.answers.model import Answers
from greenzone.bundle.manifest import Manifest, read_bundle_manifest
from greenzone.deploy.ansible_events import PhaseProgress
from greenzone.deploy.plan import Phase, plan, upgrade_plan
from greenzone.deploy.report import phase_checks
from greenzone.deploy.runner import PlaybookRunner
from greenzone.deploy.state import InstallState, answers_identity, inputs_digest
from greenzone.deploy.workspace import prepare
from greenzone.errors import EnvironmentProblem, InputError
from greenzone.install.gate import Gate, check_forced_names, preflight_gate
from greenzone.install.tracker import Tracker
from greenzone.interrupts import deferred, handling
from greenzone.preflight.facts_model import Facts
from greenzone.preflight.gather import gather_facts
from greenzone.preflight.rules import preflight_checks
from greenzone.results import Check, Report, Status
from greenzone.statedir import StateDir

ProgressListener = Callable[[Tracker, PhaseProgress, str | None], None]
PhaseGate = Callable[[str, PhaseProgress], "Check | None"]


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
    """The phases this run is about (all of the plan, or those `only` selected), in order."""
    pending: list[str]
    inputs: str
    state: InstallState
    tracker: Tracker


@dataclass(frozen=True)
class InstallRun:
    report: Report
    progress: tuple[PhaseProgress, ...]
    """Each phase that ran, in order: its tasks, changes and failures."""


@dataclass
class InstallSession:
    state_dir: StateDir
    check: bool = False
    skip_tags: tuple[str, ...] = ()
    forced: frozenset[str] = frozenset()
    only: tuple[str, ...] = ()
    """Run only these phases of the plan (`deploy --phase`); empty runs the whole plan."""
    rerun: bool = False
    """Run the selected phases even when the state says they are done with these inputs (`deploy --rerun`:
    the idempotence check, every role reporting what it would change)."""
    environ: Mapping[str, str] | None = None
    upgrade: bool = False
    """The phases in the upgrade's order (`deploy.plan.UPGRADE_ORDER`): new images in place before
    anything that runs changes."""
    _runner: PlaybookRunner | None = field(default=None, init=False, repr=False)
    _canceled: bool = field(default=False, init=False, repr=False)
    _local_checks: tuple[Check, ...] = field(default=(), init=False, repr=False)

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
        return gather_facts(answers, self.state_dir)

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
        self._local_checks = checks
        return preflight_gate(checks, self.forced)

    # --- the install ------------------------------------------------------------------------------

    def _selected(self, answers: Answers) -> tuple[Phase, ...]:
        phases = upgrade_plan(answers) if self.upgrade else plan(answers)
        names = [phase.name for phase in phases]
        unknown = sorted(set(self.only) - set(names))
        if unknown:
            raise InputError(f"no phase {', '.join(unknown)} for this appliance", hint=f"phases: {', '.join(names)}")
        return tuple(phase for phase in phases if not self.only or phase.name in self.only)

    def prepare(self, answers: Answers, source: Path, bundle: Path) -> Prepared:
        """The plan and the phases a resume skips; reads the bundle manifest (validated) and the
        install state, writes nothing."""
        phases = self._selected(answers)
        # A typo must not silently let a failure through on the nodes: every forced name is a check
        # this machine reported or one a node's preflight can report (install/gate.py).
        check_forced_names(self.forced, self._local_checks)
        manifest_text, _ = read_bundle_manifest(bundle)
        names = [phase.name for phase in phases]
        state = InstallState.load(self.state_dir.install_state)
        inputs = inputs_digest(answers_identity(answers), manifest_text)
        pending = names if self.check or self.rerun else state.pending(names, inputs)
        tracker = Tracker.for_plan(phases, pending, time.time(), check=self.check)
        return Prepared(answers, source, bundle, phases, pending, inputs, state, tracker)

    def run(
        self, prepared: Prepared, listener: ProgressListener | None = None, gate: PhaseGate | None = None
    ) -> InstallRun:
        """Every pending phase in order, stopping at the first failure or cancellation; each transition
        is recorded.

        Check mode predicts and records nothing: it works in a throw-away copy of the state directory
        (`StateDir.scratch_copy`: what a real run reads or compares), so no
        credentials, values or "installed" answers appear that `health` would take for an install;
        only its Ansible log is kept, as `logs/install-check.log`.

        `gate`, after each successful phase of a real run: a failing check it returns stops the run
        there (recorded as that phase's failure, so the same command runs it again), as the upgrade's
        health gates do."""
        if not self.check:
            return self._run(prepared, listener, self.state_dir, gate)
        # Beside the state directory: the same file system (the bootstrap archive is hard-linked, not
        # copied, and rebuilt there), and not a tmpfs that several GB of images would fill.
        parent = self.state_dir.root.parent
        try:
            parent.mkdir(parents=True, exist_ok=True)
            with deferred():  # made and in charge of its finalizer in one step for the signal handlers
                scratch = tempfile.TemporaryDirectory(prefix=".greenzone-check-", dir=parent)
        except OSError as error:
            raise EnvironmentProblem(
                f"check mode cannot make its throw-away workspace in {parent}: {error.strerror}",
                hint="run as the user who owns the state directory, or pass --state-dir",
            ) from None
        with scratch:
            workspace = self.state_dir.scratch_copy(Path(scratch.name) / "state")
            try:
                return self._run(prepared, listener, workspace)
            finally:
                self.state_dir.keep_check_log(workspace.install_log)

    def _run(
        self,
        prepared: Prepared,
        listener: ProgressListener | None,
        state_dir: StateDir,
        gate: PhaseGate | None = None,
    ) -> InstallRun:
        workspace = prepare(
            prepared.answers,
            state_dir,
            source=prepared.source.as_posix(),
            bundle=prepared.bundle,
            environ=self.environ,
        )
        extravars = {
            **workspace.extravars,
            "greenzone_force_preflight": sorted(self.forced),
            "greenzone_upgrade": self.upgrade,
        }
        runner = self._runner = PlaybookRunner(state_dir, extravars)
        if self._canceled:
            runner.cancel()
        tracker = prepared.tracker
        tracker.started = time.time()

        def on_progress(progress: PhaseProgress, line: str | None) -> None:
            tracker.update(progress)
            if listener is not None:
                listener(tracker, progress, line)

        totals = runner.count(prepared.pending, self.skip_tags) if prepared.pending and not runner.canceled else {}
        ran: list[PhaseProgress] = []
        gated: list[Check] = []
        for phase in prepared.pending:
            if not self.check:
                prepared.state.start(phase, prepared.inputs)
            if runner.canceled:  # canceled between phases: the next one is recorded as canceled, not started
                now = time.time()
                progress = PhaseProgress(phase, totals.get(phase, 0), now, outcome="canceled", finished=now)
                on_progress(progress, progress.summary())
            else:
                progress = runner.run(
                    phase,
                    tasks_total=totals.get(phase, 0),
                    check=self.check,
                    skip_tags=self.skip_tags,
                    listener=on_progress,
                )
            ran.append(progress)
            stopped = gate(phase, progress) if gate is not None and progress.outcome == "successful" else None
            if stopped is not None:
                gated.append(stopped)
                prepared.state.fail(phase, f"{stopped.name}: {stopped.detail}")
                break
            if progress.outcome == "successful":
                if not self.check:
                    prepared.state.finish(phase, changed=progress.changed)
                continue
            if not self.check:
                reason = "; ".join(failure.line() for failure in progress.failures) or progress.outcome
                prepared.state.fail(phase, reason)
            break
        names = [phase.name for phase in prepared.phases]
        log = self.state_dir.check_log if self.check else self.state_dir.install_log
        checks = (*phase_checks(names, ran, prepared.state, prepared.inputs, log, check=self.check), *gated)
        mode = " (check mode: nothing changed)" if self.check else ""
        report = Report(
            command="install",
            checks=checks,
            data={
                "state_dir": str(self.state_dir),
                "outcome": "failed" if gated else tracker.outcome,
                "check": self.check,
                "changed": sum(progress.changed for progress in ran),
            },
            title=f"Install{mode}",
        )
        return InstallRun(report, tuple(ran))

    # --- after it --------------------------------------------------------------------------------

    def health(self, answers: Answers, manifest: Manifest) -> Report:
        """`greenzone health` once, right after a successful install: the phases' results say what
        ran, this says whether the appliance works (every layer, within the usual budget)."""
        import socket

        from greenzone.health.run import run_health
        from greenzone.health.targets import health_targets

        images = [(image.ref, image.digest) for image in manifest.images]
        targets = health_targets(answers, self.state_dir, images, {}, hostname=socket.gethostname())
        return run_health(targets).report

    def cancel(self) -> None:
        """From any thread: the running phase stops at its next event and is recorded as canceled."""
        self._canceled = True
        if self._runner is not None:
            self._runner.cancel()

    @contextmanager
    def cancel_on_signals(self) -> Iterator[None]:
        """The first Ctrl-C (or SIGTERM) cancels cleanly at the next task; a second one stops at once.

        For the front ends without their own event loop (the unattended install, `deploy`); the
        wizard's Ctrl+Q and Cancel call `cancel()` after asking."""
        # SIGHUP too: the operator's SSH session dropping must not kill the install mid-task, and
        # `nohup greenzone install ...` keeps running when the session ends (interrupts.handling).
        pressed = 0

        def handler(signum: int, frame: FrameType | None) -> None:
            # Only lock-free calls here: the signal may land while this thread holds an output lock.
            nonlocal pressed
            pressed += 1
            if pressed > 1:
                raise KeyboardInterrupt
            with contextlib.suppress(OSError):  # after a hang-up there may be no terminal to tell
                os.write(2, b"canceling: stopping at the next task; run the same command again to resume\n")
            self.cancel()

        with handling(handler):
            yield


def urls(answers: Answers) -> dict[str, str]:
    """Where people reach the appliance once it runs (the Done screen and the unattended summary)."""
    port = "" if answers.registry.port == 443 else f":{answers.registry.port}"
    found = {"registry (Harbor)": f"https://{answers.registry_hostname()}{port}"}
    if answers.inference.chat_ui:
        found["chat UI"] = f"https://{answers.network.hostname}/"
    if answers.monitoring.enabled:
        found["dashboards (Grafana)"] = f"https://{answers.network.hostname}/grafana"
    return found

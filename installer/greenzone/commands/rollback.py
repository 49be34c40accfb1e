"""`greenzone rollback`: every Helm release back to the revision the last upgrade recorded before it
changed anything, newest release first, and the previous answers, manifest and values back as the
installed ones. k3s stays (Kubernetes has no way down); Harbor stays when its chart moved (its
database migrated, see `upgrade/rollback.py`). Only the last upgrade, and only until `--finalize`.
"""

from __future__ import annotations

import argparse

from greenzone.commands.confirm import confirm
from greenzone.errors import EnvironmentProblem, InputError
from greenzone.results import Check, Finished, Report, Status
from greenzone.statedir import StateDir
from greenzone.upgrade import history
from greenzone.upgrade.history import Revision, UpgradeRecord
from greenzone.upgrade.rollback import RollbackStep, rollback_steps, step_checks

TIMEOUT = "10m"


def _record(state: StateDir) -> UpgradeRecord:
    record = history.latest(state)
    if record is None or record.outcome == "rolled back" or record.finalized:
        why = (
            "no upgrade was made"
            if record is None
            else f"the last upgrade ({record.id}) was {'rolled back' if record.outcome == 'rolled back' else 'finalized'}"
        )
        raise InputError(
            f"nothing to roll back in {state}: {why}",
            hint="a rollback returns the last upgrade until `greenzone upgrade --finalize`; an install has none",
        )
    if record.revisions is None:
        raise InputError(
            f"the upgrade {record.id} recorded no Helm revisions ({record.revisions_problem})",
            hint="roll each release back by hand (`helm history NAME -n NAMESPACE`, `helm rollback NAME REVISION`)",
        )
    return record


def _deployed(state: StateDir, recorded: tuple[Revision, ...]) -> dict[str, tuple[int, str] | None]:
    from greenzone.cluster.helm import deployed_revisions, find_helm

    if not state.kubeconfig.is_file():
        raise EnvironmentProblem(
            f"no kubeconfig in {state}", hint="a rollback talks to the cluster; run it where you installed"
        )
    try:
        found = deployed_revisions(
            find_helm(None, state), state.kubeconfig, [(item.release, item.namespace) for item in recorded]
        )
    except Exception as error:  # pyhelm3 raises its own errors for helm's failures
        raise EnvironmentProblem(
            f"helm could not read the releases: {_last_line(error)}",
            hint="check that the Kubernetes API answers (`greenzone health --layer cluster`)",
        ) from None
    return {item.release: (now[2], now[3]) if now else None for item, now in zip(recorded, found, strict=True)}


def _last_line(error: BaseException) -> str:
    lines = str(getattr(error, "title", "") or error).strip().splitlines()
    return lines[-1] if lines else type(error).__name__


def _confirm(record: UpgradeRecord) -> None:
    confirm(
        f"Roll back {record.to_product} → {record.from_product}?", what="a rollback changes the running appliance and"
    )


def _apply(state: StateDir, steps: list[RollbackStep]) -> Check | None:
    """Each step in order; the first failure stops the rest and is returned. A signal waits for the
    helm call in flight: killed mid-rollback, helm leaves the release `pending-rollback`, which blocks
    every later helm operation on it."""
    from greenzone.cluster.helm import find_helm, rollback_release
    from greenzone.interrupts import deferred

    helm = find_helm(None, state)
    for step in steps:
        if step.action not in ("rollback", "uninstall"):
            continue
        try:
            with deferred():
                rollback_release(
                    helm,
                    state.kubeconfig,
                    step.release,
                    step.namespace,
                    step.target if step.action == "rollback" else None,
                    TIMEOUT,
                )
        except (KeyboardInterrupt, SystemExit):
            raise
        except Exception as error:
            return Check(
                f"release {step.release}",
                Status.FAIL,
                f"helm could not roll it back: {_last_line(error)}; the releases after it in this list were not touched",
                f"`helm history {step.release} -n {step.namespace}` says why; fix it and run `greenzone rollback` again",
                group="rollback",
            )
    return None


def _forget_phases(state: StateDir) -> None:
    """The install state names the phases done with the upgrade's inputs; after a rollback they are
    not what runs, so the next install or upgrade runs every phase again (each is idempotent)."""
    from greenzone.deploy.state import InstallState

    install = InstallState.load(state.install_state)
    if install.phases:
        install.phases.clear()
        install.save()


def rollback(args: argparse.Namespace) -> Report | Finished:
    state = StateDir.locate(args.state_dir)
    record = _record(state)
    assert record.revisions is not None
    steps = rollback_steps(record.revisions, _deployed(state, record.revisions))
    planned = step_checks(steps, done=False)
    header = Check(
        "upgrade",
        Status.PASS,
        f"{record.id}: {record.from_product} → {record.to_product} ({record.outcome}); k3s is not downgraded",
        group="rollback",
    )
    data = {"record": record.to_json(), "steps": [vars(step) for step in steps]}
    if args.check or any(check.status is Status.FAIL for check in planned):
        title = "Rollback plan (check: nothing changed)" if args.check else "Rollback refused: nothing was changed"
        return Report("rollback", (header, *planned), data, title=title, grouped=True)
    if not args.yes:
        _confirm(record)
    stopped = _apply(state, steps)
    if stopped is not None:
        return Report("rollback", (header, stopped), data, title="Rollback stopped", grouped=True)
    restored = history.restore_previous(state, record)
    _forget_phases(state)
    record = history.finish(state, record, "rolled back")
    files = Check("records", Status.PASS, f"restored: {', '.join(restored) or 'nothing'}", group="rollback")
    report = Report(
        "rollback",
        (header, *step_checks(steps, done=True), files),
        {**data, "record": record.to_json()},
        title=f"Rolled back to {record.from_product}",
        grouped=True,
    )
    notes = (
        "the upgrade's images stay in Harbor until the next upgrade's --finalize",
        f"upgrading again runs every phase: `greenzone upgrade --bundle {record.bundle}`",
    )
    return Finished(report, report.exit_code, notes)

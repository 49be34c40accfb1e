"""What `greenzone rollback` does to each release (pure): back to the revision recorded before the
last upgrade, newest release first (the inverse of the install's order), from what helm says now.

k3s is never part of it: Kubernetes has no downgrade (the plan says so before the upgrade starts).
The previous version's images are still in Harbor and on the nodes until `--finalize`, so the
releases' old image references resolve again; the model set follows the inference release's values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from greenzone.results import Check, Status
from greenzone.upgrade.history import Revision

Action = Literal["rollback", "uninstall", "none", "missing", "kept"]
#: Harbor migrates its database forward when its version changes and cannot run on a migrated one
#: with the older version; Harbor's upgrade guide restores a database backup to go back. A chart
#: change of Harbor is therefore not rolled back here: it is shown with that way back.
NO_WAY_BACK = {
    "harbor": "Harbor's database moved to the new version with the upgrade and has no way back but a backup "
    "of it; Harbor stays as it is (it serves the previous version's images all the same)",
}


@dataclass(frozen=True)
class RollbackStep:
    release: str
    namespace: str
    now: int | None
    target: int | None
    action: Action

    def line(self) -> str:
        if self.action == "kept":
            return NO_WAY_BACK.get(self.release, "kept as it is")
        if self.action == "rollback":
            return f"revision {self.now} → {self.target} (helm rollback, waits for the workloads)"
        if self.action == "uninstall":
            return f"uninstalled: the upgrade installed it (revision {self.now})"
        if self.action == "missing":
            return f"it was at revision {self.target} before the upgrade and is gone now"
        return f"already at revision {self.target}" if self.target is not None else "not installed, as before"


def rollback_steps(recorded: Sequence[Revision], now: Mapping[str, tuple[int, str] | None]) -> list[RollbackStep]:
    """`now`: each release's deployed (revision, chart version), None where it is not installed. A
    release rolled back already sits at a newer revision with the recorded content (helm rollback makes
    a new revision); rolling it back again changes no workload, so a second run is safe."""
    steps = []
    for revision in reversed(recorded):
        deployed = now.get(revision.release)
        current = deployed[0] if deployed else None
        if revision.revision is None:
            action: Action = "none" if deployed is None else "uninstall"
        elif deployed is None:
            action = "missing"
        elif deployed[0] == revision.revision:
            action = "none"
        elif revision.release in NO_WAY_BACK and deployed[1] != revision.chart_version:
            action = "kept"
        else:
            action = "rollback"
        steps.append(RollbackStep(revision.release, revision.namespace, current, revision.revision, action))
    return steps


def step_checks(steps: Sequence[RollbackStep], *, done: bool) -> list[Check]:
    checks = []
    for step in steps:
        if step.action == "kept":
            checks.append(
                Check(
                    f"release {step.release}",
                    Status.WARN,
                    step.line(),
                    f"to return it too, restore Harbor's database backup, then `helm rollback {step.release} "
                    f"{step.target} -n {step.namespace}`",
                    group="rollback",
                )
            )
            continue
        if step.action == "missing":
            checks.append(
                Check(
                    f"release {step.release}",
                    Status.FAIL,
                    step.line(),
                    "helm cannot roll back a release that is gone: run `greenzone install` with the previous "
                    "bundle's answers (kept in the upgrade's folder) to put it back",
                    group="rollback",
                )
            )
            continue
        verb = "" if done or step.action == "none" else "would be "
        detail = step.line() if step.action == "none" else f"{verb}{step.line()}"
        checks.append(Check(f"release {step.release}", Status.PASS, detail, group="rollback"))
    return checks

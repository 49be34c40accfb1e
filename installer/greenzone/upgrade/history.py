"""The upgrade history under the state directory: one folder per upgrade.

An upgrade keeps what it replaces before it replaces it: the previous manifest, installed answers and
values files (copied before the install session rewrites them), the Helm revision each release was at,
and the plan it showed. That is what `greenzone rollback` returns to, what `--finalize` compares the
running version with, and what a resumed upgrade reads to show the same plan again (by then the state
directory already names the new bundle). Every file is written atomically, 0600 like the rest.
"""

from __future__ import annotations

import datetime
import json
import shutil
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

from greenzone.atomic import write_text_atomic
from greenzone.errors import EnvironmentProblem, InputError
from greenzone.statedir import StateDir

Outcome = Literal["running", "succeeded", "failed", "canceled", "rolled back"]
RECORD = "record.json"
PLAN = "plan.json"
PREVIOUS = "previous"


@dataclass(frozen=True)
class Revision:
    release: str
    namespace: str
    revision: int | None
    """None: the release was not installed before the upgrade (a rollback uninstalls it)."""
    chart_version: str = ""


@dataclass(frozen=True)
class UpgradeRecord:
    id: str
    started: str
    from_product: str
    to_product: str
    bundle: str
    """The new bundle's directory, as given."""
    bundle_sha256: str
    """The new manifest's digest: a resume must be the same bundle."""
    outcome: Outcome = "running"
    finished: str = ""
    revisions: tuple[Revision, ...] | None = None
    """Each release's deployed revision before the upgrade; None when the cluster could not be read."""
    revisions_problem: str = ""
    failed_phase: str = ""
    finalized: bool = False
    accepted: tuple[str, ...] = ()
    """Health checks that failed before the upgrade and were accepted: the gates ignore them."""
    cluster_skipped: bool = False
    """Run with the `cluster` tasks skipped: no release moved, so the previous images are still in use."""
    phases: tuple[tuple[str, str], ...] = ()
    """(phase, status) of the last run: what `greenzone status` shows."""

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["revisions"] = None if self.revisions is None else [asdict(item) for item in self.revisions]
        data["accepted"] = list(self.accepted)
        data["phases"] = [list(item) for item in self.phases]
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> UpgradeRecord:
        revisions = data.get("revisions")
        known = {item.name for item in fields(cls)} - {"revisions", "accepted", "phases"}
        return cls(
            **{key: value for key, value in data.items() if key in known},
            revisions=None if revisions is None else tuple(Revision(**item) for item in revisions),
            accepted=tuple(data.get("accepted", ())),
            phases=tuple((str(name), str(status)) for name, status in data.get("phases", ())),
        )


def new_id(now: datetime.datetime) -> str:
    return now.strftime("%Y%m%dT%H%M%SZ")


def _write_json(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n", 0o600)


def _problem(action: str, error: OSError) -> EnvironmentProblem:
    return EnvironmentProblem(
        f"cannot {action}: {error.strerror or error}",
        hint="run as the user who owns the state directory (root for /var/lib/greenzone)",
    )


def start(
    state: StateDir,
    record: UpgradeRecord,
    plan: Mapping[str, Any],
    releases: list[str],
) -> Path:
    """The record's folder with the previous version copied in, before anything changes. The copies
    are made first and the record last, so a folder without `record.json` is an upgrade that never
    started (and is ignored)."""
    folder = state.upgrade_record(record.id)
    previous = folder / PREVIOUS
    try:
        (previous / "values").mkdir(parents=True, exist_ok=True, mode=0o700)
        folder.chmod(0o700)
        for source, name in ((state.installed_manifest, "bundle.yaml"), (state.installed_answers, "answers.yaml")):
            if source.is_file():
                write_text_atomic(previous / name, source.read_text(encoding="utf-8"), 0o600)
        for release in releases:
            values = state.values_file(release)
            if values.is_file():
                write_text_atomic(previous / "values" / values.name, values.read_text(encoding="utf-8"), 0o600)
        _write_json(folder / PLAN, plan)
        _write_json(folder / RECORD, record.to_json())
    except OSError as error:
        raise _problem(f"keep the previous version in {folder}", error) from None
    return folder


def save(state: StateDir, record: UpgradeRecord) -> None:
    try:
        _write_json(state.upgrade_record(record.id) / RECORD, record.to_json())
    except OSError as error:
        raise _problem(f"record the upgrade in {state.upgrade_record(record.id)}", error) from None


def finish(state: StateDir, record: UpgradeRecord, outcome: Outcome, **changes: Any) -> UpgradeRecord:
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    done = replace(record, outcome=outcome, finished=now if outcome != "running" else "", **changes)
    save(state, done)
    return done


def read_records(state: StateDir) -> tuple[list[UpgradeRecord], list[tuple[Path, str]]]:
    """Every started upgrade that reads, oldest first, and each record that does not (its path and
    why). A folder without a record never started and is neither."""
    found: list[UpgradeRecord] = []
    damaged: list[tuple[Path, str]] = []
    if not state.upgrades_dir.is_dir():
        return found, damaged
    for folder in sorted(path for path in state.upgrades_dir.iterdir() if path.is_dir()):
        path = folder / RECORD
        if not path.exists():
            continue
        try:
            found.append(UpgradeRecord.from_json(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, TypeError, AttributeError, KeyError) as error:
            damaged.append((path, str(error)))
    return found, damaged


def records(state: StateDir) -> list[UpgradeRecord]:
    """Every started upgrade, oldest first; a record that cannot be read is refused with its name:
    taking an older one for the last upgrade would roll back or finalize the wrong version."""
    found, damaged = read_records(state)
    if damaged:
        path, why = damaged[0]
        raise InputError(
            f"the upgrade record {path} cannot be read: {why}",
            hint="`greenzone support-bundle` carries it for the vendor; move its folder aside only if the vendor "
            "says so (it holds what a rollback returns to)",
        )
    return found


def latest(state: StateDir) -> UpgradeRecord | None:
    found = records(state)
    return found[-1] if found else None


def previous_file(state: StateDir, record: UpgradeRecord, name: str) -> Path:
    """A file of the version before `record`: `bundle.yaml`, `answers.yaml` or `values/<release>.yaml`."""
    return state.upgrade_record(record.id) / PREVIOUS / name


def restore_previous(state: StateDir, record: UpgradeRecord) -> list[str]:
    """Put the previous version's answers, manifest and values back as the installed ones (rollback)."""
    restored = []
    pairs = [
        (previous_file(state, record, "bundle.yaml"), state.installed_manifest),
        (previous_file(state, record, "answers.yaml"), state.installed_answers),
    ]
    values = state.upgrade_record(record.id) / PREVIOUS / "values"
    if values.is_dir():
        pairs += [(path, state.values_dir / path.name) for path in sorted(values.iterdir())]
    try:
        for source, target in pairs:
            if source.is_file():
                write_text_atomic(target, source.read_text(encoding="utf-8"), 0o600)
                restored.append(str(target.relative_to(state.root)))
    except OSError as error:
        raise _problem("restore the previous version's records", error) from None
    return restored


def remove(state: StateDir, record: UpgradeRecord) -> None:
    shutil.rmtree(state.upgrade_record(record.id), ignore_errors=True)

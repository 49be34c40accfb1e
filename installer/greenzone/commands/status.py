"""`greenzone status`: what runs here and how it got there, from the state directory alone (no node,
cluster or registry is asked: `greenzone health` does that): the installed version and bundle, the
install's phases, every upgrade and rollback with its outcome, and the last health run."""

from __future__ import annotations

import argparse
import json

from greenzone.results import Check, Report, Status
from greenzone.statedir import StateDir
from greenzone.upgrade import history


def _installed(state: StateDir) -> tuple[Check, dict[str, object]]:
    import yaml

    if not state.installed_manifest.is_file() or not state.installed_answers.is_file():
        return Check("installed", Status.SKIP, f"nothing is installed from {state}", group="appliance"), {}
    try:
        manifest = _mapping(yaml.safe_load(state.installed_manifest.read_text(encoding="utf-8")))
        answers = _mapping(yaml.safe_load(state.installed_answers.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        return Check("installed", Status.WARN, f"the installed records cannot be read: {error}", group="appliance"), {}
    version = str(manifest.get("product_version", "?"))
    bundle = str(_mapping(answers.get("bundle")).get("path", "?"))
    nodes = answers.get("nodes")
    nodes = len(nodes) if isinstance(nodes, list) else 0
    name = str(_mapping(answers.get("appliance")).get("name", "?"))
    detail = f"{name}: greenzone {version} from {bundle}, {nodes} node(s)"
    return Check("installed", Status.PASS, detail, group="appliance"), {"version": version, "bundle": bundle}


def _mapping(value: object) -> dict[str, object]:
    return value if isinstance(value, dict) else {}


def _phases(state: StateDir) -> Check | None:
    from greenzone.deploy.state import InstallState
    from greenzone.errors import InputError

    try:
        install = InstallState.load(state.install_state)
    except InputError as error:
        return Check("phases", Status.WARN, error.title, error.hint, group="appliance")
    if not install.phases:
        return None
    undone = [f"{name} {record.status}" for name, record in install.phases.items() if record.status != "done"]
    if undone:
        return Check(
            "phases",
            Status.WARN,
            f"not all done: {', '.join(undone)}",
            "the same `greenzone install` (or `greenzone upgrade`) resumes",
            group="appliance",
        )
    return Check("phases", Status.PASS, f"all {len(install.phases)} done", group="appliance")


def _last_health(state: StateDir) -> Check | None:
    try:
        last = _mapping(json.loads(state.last_health.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None
    counts = _mapping(last.get("counts"))
    tally = ", ".join(f"{count} {name}" for name, count in counts.items() if count)
    return Check(
        "last health run", Status.PASS, f"{last.get('at', '?')}: {last.get('status', '?')} ({tally})", group="appliance"
    )


def _history(record: history.UpgradeRecord) -> Check:
    when = record.started + (f" → {record.finished}" if record.finished else "")
    parts = [f"{record.from_product} → {record.to_product}: {record.outcome}", when]
    if record.failed_phase:
        parts.append(f"stopped at {record.failed_phase}")
    if record.phases:
        parts.append("phases " + ", ".join(f"{name} {status}" for name, status in record.phases))
    if record.finalized:
        parts.append("finalized")
    elif record.outcome == "succeeded":
        parts.append("previous version kept until --finalize")
    return Check(f"upgrade {record.id}", Status.PASS, "; ".join(parts), group="history")


def status(args: argparse.Namespace) -> Report:
    state = StateDir.locate(args.state_dir)
    installed, data = _installed(state)
    checks = [installed, *(check for check in (_phases(state), _last_health(state)) if check)]
    # Shown beside what reads, where `upgrade`, `rollback` and `finalize` stop at a damaged record.
    records, damaged = history.read_records(state)
    checks += [_history(record) for record in records]
    checks += [
        Check(f"upgrade {path.parent.name}", Status.FAIL, f"its record cannot be read: {why}", DAMAGED, "history")
        for path, why in damaged
    ]
    data = {**data, "history": [record.to_json() for record in records]}
    return Report("status", tuple(checks), data, title=f"Greenzone in {state}", grouped=True)


DAMAGED = "`greenzone support-bundle` carries it for the vendor; until then rollback and finalize refuse to guess"

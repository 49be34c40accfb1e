"""`greenzone upgrade --finalize`: delete what the previous version left once the new one is kept.

The pure plan (`upgrade/finalize.py`) names the images no release of the running version uses and
the model files no running model lists; here they go: from Harbor through its API (then one garbage
collection for the blobs), and from every node through `playbooks/finalize.yml` (containerd by
digest, the bundle copy and the model store). After it `greenzone rollback` has nothing to return to,
so it asks first. A second run finds nothing to delete.
"""

from __future__ import annotations

import argparse
import socket
import sys
from dataclasses import replace

from greenzone.errors import InputError
from greenzone.results import Check, Finished, Report, Status
from greenzone.statedir import StateDir
from greenzone.upgrade import history
from greenzone.upgrade.finalize import FinalizePlan, finalize_plan
from greenzone.upgrade.history import UpgradeRecord


def _record(state: StateDir) -> UpgradeRecord | None:
    latest = history.latest(state)
    if latest is None or latest.outcome != "succeeded" or latest.finalized:
        return None
    return latest


def finalize(args: argparse.Namespace) -> Report | Finished:
    from greenzone.answers.files import load_valid_answers
    from greenzone.bundle.manifest import parse_manifest

    state = StateDir.locate(args.state_dir)
    record = _record(state)
    if record is None:
        return Report(
            "upgrade",
            (Check("finalize", Status.PASS, "no finished upgrade waits for it: nothing to delete", group="finalize"),),
            {},
            title="Nothing to finalize",
        )
    previous_file = history.previous_file(state, record, "bundle.yaml")
    if not previous_file.is_file() or not state.installed_manifest.is_file():
        raise InputError(
            f"the upgrade {record.id} kept no previous manifest ({previous_file})",
            hint="without it greenzone cannot tell what the previous version used; nothing was deleted",
        )
    previous = parse_manifest(previous_file.read_text(encoding="utf-8"), str(previous_file))
    current = parse_manifest(state.installed_manifest.read_text(encoding="utf-8"), str(state.installed_manifest))
    answers = load_valid_answers(state.installed_answers)
    plan = finalize_plan(previous, current, served=answers.inference.models)
    data = {
        "record": record.id,
        "images": [vars(image) for image in plan.images],
        "model_files": list(plan.model_files),
    }
    if args.check or plan.empty:
        title = "Finalize (check: nothing changed)" if args.check else "Nothing to delete"
        if plan.empty and not args.check:
            history.finish(state, record, record.outcome, finalized=True)
        return Report("upgrade", tuple(plan.checks(done=False)), data, title=title)
    if not args.yes:
        _confirm(record)
    checks = [*_harbor(state, answers, plan, args), _nodes(state, answers, plan)]
    failed = any(check.status is Status.FAIL for check in checks)
    if not failed:
        history.save(state, replace(record, finalized=True))
    report = Report(
        "upgrade",
        (*plan.checks(done=not failed), *checks),
        data,
        title="Finalize stopped: run it again" if failed else f"Finalized: {record.from_product} is gone",
    )
    return Finished(
        report, report.exit_code, ("`greenzone rollback` has nothing to return to now",) if not failed else ()
    )


def _confirm(record: UpgradeRecord) -> None:
    if not sys.stdin.isatty():
        raise InputError(
            "--finalize deletes the previous version for good and needs a confirmation; nothing was deleted",
            hint="see what goes with --check, then pass --yes (automation) or answer on a terminal",
        )
    try:
        reply = input(f"Delete what {record.from_product} left? `greenzone rollback` is no longer possible [y/N] ")
    except EOFError:
        reply = ""
    if reply.strip().lower() not in ("y", "yes"):
        raise InputError("not confirmed; nothing was deleted", hint="answer `y`, or pass --yes")


def _harbor(state: StateDir, answers: object, plan: FinalizePlan, args: argparse.Namespace) -> list[Check]:
    from greenzone.bundle.registry import Credentials, RegistryError
    from greenzone.cluster.harbor import collect_garbage, delete_artifacts
    from greenzone.deploy.credentials import load_credentials
    from greenzone.health.targets import health_targets, parse_endpoints
    from greenzone.refs import mirror_repository

    if not plan.images:
        return []
    targets = health_targets(answers, state, [], parse_endpoints(args.endpoint or []), hostname=socket.gethostname())  # type: ignore[arg-type]
    stored = load_credentials(targets.credentials_file) if targets.credentials_file.is_file() else {}
    password = stored.get("harbor_admin_password")
    if not password:
        return [
            Check(
                "Harbor",
                Status.FAIL,
                f"no Harbor admin password in {targets.credentials_file}",
                "run --finalize as the user who installed (root), where the credentials file is",
                group="finalize",
            )
        ]
    ca = targets.ca_file if targets.ca_file.is_file() else None
    artifacts = [(mirror_repository(image.ref)[0], image.digest) for image in plan.images]
    credentials = Credentials("admin", password)
    try:
        outcome = delete_artifacts(targets.registry_url, artifacts, credentials, ca_file=ca)
        status, freed = collect_garbage(targets.registry_url, credentials, ca_file=ca)
    except RegistryError as error:
        return [Check("Harbor", Status.FAIL, error.title, error.hint, group="finalize")]
    detail = f"{len(outcome['deleted'])} artifact(s) deleted"
    if outcome["gone"]:
        detail += f", {len(outcome['gone'])} already gone"
    if outcome["kept"]:
        detail += f"; kept, Harbor says another artifact references them: {', '.join(outcome['kept'])}"
    collected = f"garbage collection: {status}" + (f", {freed / 2**20:.1f} MiB freed" if freed is not None else "")
    if status == "Error":
        return [
            Check(
                "Harbor",
                Status.WARN,
                f"{detail}; {collected}",
                "see the run's log in Harbor (Administration → Clean Up); run --finalize again later",
                group="finalize",
            )
        ]
    if freed is None and status != "Success":
        collected += " (still running; Harbor shows what it freed under Administration → Clean Up)"
    return [Check("Harbor", Status.PASS, f"{detail}; {collected}", group="finalize")]


def _nodes(state: StateDir, answers: object, plan: FinalizePlan) -> Check:
    from greenzone.commands.reset import play_on_nodes
    from greenzone.refs import split_ref

    images = []
    for image in plan.images:
        host, repository, _ = split_ref(image.ref)
        images.append(f"{host}/{repository}@{image.digest}")
    extravars = {"finalize_images": images, "finalize_model_files": list(plan.model_files)}
    progress, log = play_on_nodes(state, answers, "finalize.yml", "finalize", extravars, check=False)  # type: ignore[arg-type]
    if progress.outcome != "successful":
        reason = "; ".join(failure.line() for failure in progress.failures) or progress.outcome
        return Check(
            "nodes",
            Status.FAIL,
            f"stopped: {reason}",
            f"fix it (the log: {log}), then run --finalize again",
            "finalize",
        )
    return Check("nodes", Status.PASS, f"{progress.changed} change(s) on the nodes", group="finalize")

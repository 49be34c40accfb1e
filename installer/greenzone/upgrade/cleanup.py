"""Deleting what the previous version left once the new one is kept: `greenzone upgrade --finalize`,
and the next upgrade before it starts (what an upgrade keeps for a rollback stays only until then).

The pure plan (`upgrade/finalize.py`) names the images no release of the running version uses and
the model files no running model lists; here they go: from Harbor through its API (then one garbage
collection for the blobs), and from every node through `playbooks/finalize.yml` (containerd by
digest, the bundle copy and the model store). After it `greenzone rollback` has nothing to return to,
so the command asks first. A second run finds nothing to delete.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from greenzone.answers.model import Answers
from greenzone.bundle.manifest import Manifest
from greenzone.errors import EnvironmentProblem, GreenzoneError, InputError
from greenzone.results import Check, Finished, Report, Status
from greenzone.statedir import StateDir
from greenzone.upgrade import history
from greenzone.upgrade.finalize import FinalizePlan, Running, finalize_plan, running_images
from greenzone.upgrade.history import UpgradeRecord


def waiting(state: StateDir) -> list[UpgradeRecord]:
    """Every upgrade that succeeded and was not finalized: each left its previous version behind.
    None after the last upgrade was rolled back (its images are the ones that run again)."""
    found = history.records(state)
    if not found or found[-1].outcome != "succeeded":
        return []
    return [record for record in found if record.outcome == "succeeded" and not record.finalized]


def _manifest(path: Path) -> Manifest:
    from greenzone.bundle.manifest import ManifestError, parse_manifest

    try:
        return parse_manifest(path.read_text(encoding="utf-8"), str(path))
    except (OSError, ManifestError) as error:
        raise InputError(
            f"cannot read {path}: {error}",
            hint="without it greenzone cannot tell what a version used; nothing was deleted",
        ) from None


def _running(state: StateDir, answers: Answers, endpoints: Sequence[str]) -> tuple[Running | None, str]:
    """What the cluster's pods run now; (None, why) where the API cannot say."""
    from greenzone.health.readers.cluster import KubeReads, reason
    from greenzone.health.readers.deadline import Deadline
    from greenzone.health.targets import health_targets, parse_endpoints

    targets = health_targets(answers, state, [], parse_endpoints(endpoints), hostname=socket.gethostname())
    reads = KubeReads(targets, Deadline(30.0))
    if reads.error:
        return None, reads.error
    try:
        pods = reads.json("/api/v1/pods").get("items") or []
    except Exception as error:  # any failure of the one read means the same: what runs is unknown
        return None, f"the Kubernetes API at {reads.server} did not list the pods: {reason(error)}"
    return running_images(pods), ""


def finalize_waiting(
    state: StateDir,
    endpoints: Sequence[str],
    *,
    check: bool,
    confirm: Callable[[UpgradeRecord], None] | None,
) -> Report | Finished:
    """Every version that finished upgrades left behind, deleted; `confirm` is asked before anything
    is deleted (None: already confirmed)."""
    from greenzone.answers.files import load_valid_answers

    kept = waiting(state)
    if not kept:
        return Report(
            "upgrade",
            (Check("finalize", Status.PASS, "no finished upgrade waits for it: nothing to delete", group="finalize"),),
            {},
            title="Nothing to finalize",
        )
    previous = [_manifest(history.previous_file(state, record, "bundle.yaml")) for record in kept]
    current = _manifest(state.installed_manifest)
    answers = load_valid_answers(state.installed_answers)
    running, unknown = _running(state, answers, endpoints)
    plan = finalize_plan(previous, current, served=answers.inference.models, running=running)
    data = {
        "records": [record.id for record in kept],
        "images": [vars(image) for image in plan.images],
        "model_files": list(plan.model_files),
        "pods_checked": running is not None,
    }
    skipped = [record.id for record in kept if record.cluster_skipped]
    if skipped:  # listed, never deleted: those releases never moved off the previous images
        refusal = Check(
            "cluster tasks skipped",
            Status.FAIL,
            f"the upgrade {', '.join(skipped)} ran with --skip-tags cluster: no release moved, so the pods may "
            "still run everything listed above; nothing was deleted",
            "run the same `greenzone upgrade` without --skip-tags cluster first",
            group="finalize",
        )
        return Report("upgrade", (*plan.checks(done=False), refusal), data, title="Finalize refused")
    if check or plan.empty:
        rows = plan.checks(done=False)
        if running is None:
            rows.append(
                Check(
                    "running pods",
                    Status.WARN,
                    f"not read ({unknown}): a real --finalize also keeps whatever the pods still run",
                    "run it where the cluster answers",
                    group="finalize",
                )
            )
        if plan.empty and not check:
            for record in kept:
                history.save(state, replace(record, finalized=True))
        title = "Finalize (check: nothing changed)" if check else "Nothing to delete"
        return Report("upgrade", tuple(rows), data, title=title)
    if running is None:
        raise EnvironmentProblem(
            f"cannot tell which images the pods run ({unknown}); nothing was deleted",
            hint="finalize where the cluster answers (`greenzone health --layer cluster`)",
        )
    if confirm is not None:
        confirm(kept[-1])
    checks = [*_harbor(state, answers, plan, endpoints), _nodes(state, answers, plan)]
    failed = any(check.status is Status.FAIL for check in checks)
    if not failed:
        for record in kept:
            history.save(state, replace(record, finalized=True))
    report = Report(
        "upgrade",
        (*plan.checks(done=not failed), *checks),
        data,
        title="Finalize stopped: run it again" if failed else f"Finalized: what {kept[0].from_product} left is gone",
    )
    notes = () if failed else ("`greenzone rollback` has nothing to return to now",)
    return Finished(report, report.exit_code, notes)


def _harbor(state: StateDir, answers: Answers, plan: FinalizePlan, endpoints: Sequence[str]) -> list[Check]:
    from greenzone.bundle.registry import RegistryError
    from greenzone.cluster.harbor import collect_garbage, delete_artifacts
    from greenzone.health.readers.registry import harbor_credentials
    from greenzone.health.targets import health_targets, parse_endpoints
    from greenzone.refs import mirror_repository

    if not plan.images:
        return []
    targets = health_targets(answers, state, [], parse_endpoints(endpoints), hostname=socket.gethostname())
    credentials = harbor_credentials(targets)
    if credentials is None:
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


def _nodes(state: StateDir, answers: Answers, plan: FinalizePlan) -> Check:
    from greenzone.commands.reset import play_on_nodes
    from greenzone.refs import split_ref

    images = []
    for image in plan.images:
        host, repository, _ = split_ref(image.ref)
        images.append(f"{host}/{repository}@{image.digest}")
    extravars = {"finalize_images": images, "finalize_model_files": list(plan.model_files)}
    progress, log = play_on_nodes(state, answers, "finalize.yml", "finalize", extravars, check=False)
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


def before_upgrade(state: StateDir, endpoints: Sequence[str]) -> list[Check]:
    """What the last upgrade kept for a rollback goes before the next one starts, as `--finalize`
    would delete it (the admin confirmed the upgrade, and the plan said so). Whatever stops it (the
    cluster not answering, a failed deletion) only keeps those images for a later `--finalize`: the
    upgrade goes ahead either way, and its report says which."""
    kept = waiting(state)
    if not kept:
        return []
    name = f"what {kept[0].from_product} left"
    hint = "`greenzone upgrade --finalize` deletes it once the cause is fixed"
    try:
        outcome = finalize_waiting(state, endpoints, check=False, confirm=None)
    except GreenzoneError as error:
        return [Check(name, Status.WARN, f"kept: {error.title}", hint, group="finalize")]
    except Exception as error:  # Harbor, TLS, the playbook: none of it may stop the upgrade itself
        logging.getLogger(__name__).warning("deleting what the last upgrade kept failed", exc_info=True)
        return [Check(name, Status.WARN, f"kept: {type(error).__name__}: {error}"[:300], hint, group="finalize")]
    report = outcome.report if isinstance(outcome, Finished) else outcome
    for status in (Status.FAIL, Status.WARN):
        found = [check for check in report.checks if check.status is status]
        if found:
            verb = "kept" if status is Status.FAIL else "deleted, with a warning"
            detail = f"{verb}: {found[0].name}: {found[0].detail}"
            return [Check(name, Status.WARN, detail, found[0].remedy or hint, group="finalize")]
    return [Check(name, Status.PASS, f"deleted before the upgrade: {report.title}", group="finalize")]

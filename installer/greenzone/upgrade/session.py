"""The upgrade's front door: one session that the CLI (and later the wizard) drives, as the install
has `InstallSession`.

It reads once what an upgrade acts on (the installed records, the new bundle, a resumable record),
builds the plan and its preflight (`upgrade/plan.py`, `upgrade/rules.py`), then runs the install
session in the upgrade's order (`deploy.plan.UPGRADE_ORDER`) with two things around it: a record of
what it replaces (`upgrade/history.py`: the releases' revisions, the previous manifest, answers and
values) kept before any change, and a health gate after each phase that touched the cluster, which
stops the upgrade and rolls that phase's release back to its recorded revision. A stop (a failure,
Ctrl-C) is resumed by the same call. Nothing here prints or asks.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from greenzone.answers.model import Answers
from greenzone.bundle.manifest import Manifest, parse_manifest, read_bundle_manifest
from greenzone.deploy.ansible_events import PhaseProgress
from greenzone.errors import GreenzoneError, InputError
from greenzone.results import Check, Report, Status
from greenzone.statedir import StateDir
from greenzone.upgrade import history
from greenzone.upgrade.history import Outcome, Revision, UpgradeRecord
from greenzone.upgrade.plan import ReleaseValues, UpgradePlan, build_plan

if TYPE_CHECKING:
    from greenzone.install.session import InstallSession
    from greenzone.upgrade.from_site import SiteCopy, SiteLook

#: The health layers that say whether a phase's change works; a phase not named here has no gate.
PHASE_LAYERS: Mapping[str, tuple[str, ...]] = {
    "k3s": ("cluster",),
    "gpu_operator": ("cluster",),
    "harbor": ("registry",),
    "registry": ("registry",),
    "monitoring": ("cluster",),
    "inference": ("inference",),
    "guardrails": ("green zone",),
}
#: The Helm release each phase installs: what its gate rolls back.
PHASE_RELEASE: Mapping[str, str] = {
    "gpu_operator": "gpu-operator",
    "harbor": "harbor",
    "monitoring": "monitoring",
    "inference": "greenzone-inference",
    "guardrails": "greenzone-guardrails",
}
RESUMABLE = ("running", "failed", "canceled")
ROLLBACK_TIMEOUT = "10m"


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- what is installed ----------------------------------------------------------------------------------


def _installed(state: StateDir) -> tuple[Answers, str]:
    from greenzone.answers.files import load_valid_answers

    if not state.installed_answers.is_file() or not state.installed_manifest.is_file():
        raise InputError(
            f"nothing is installed from {state}: an upgrade needs the running appliance's records",
            hint="install first (`greenzone install`), or pass the --state-dir the install used",
        )
    return load_valid_answers(state.installed_answers), state.installed_manifest.read_text(encoding="utf-8")


def _manifest(text: str, source: str) -> Manifest:
    from greenzone.bundle.manifest import ManifestError

    try:
        return parse_manifest(text, source)
    except ManifestError as error:
        raise InputError(
            f"the installed bundle's record {source} cannot be read: {error}",
            hint="`greenzone support-bundle` carries it for the vendor; `greenzone install` with the installed "
            "bundle writes it again",
        ) from None


def installed_appliance(state: StateDir) -> tuple[Answers, Manifest]:
    """The running appliance's answers and bundle manifest, as its last install or upgrade recorded them."""
    answers, text = _installed(state)
    return answers, _manifest(text, str(state.installed_manifest))


def _resumable(state: StateDir, bundle_sha: str) -> UpgradeRecord | None:
    record = history.latest(state)
    if record is not None and record.outcome in RESUMABLE and record.bundle_sha256 == bundle_sha:
        return record
    return None


def _refuse_unfinished(state: StateDir, record: UpgradeRecord | None) -> None:
    """A half-done install, or a different upgrade still open, is finished (or rolled back) first."""
    from greenzone.deploy.state import InstallState

    if record is not None:
        return
    latest = history.latest(state)
    if latest is not None and latest.outcome in RESUMABLE:
        raise InputError(
            f"the upgrade to {latest.to_product} ({latest.bundle}) did not finish ({latest.outcome})",
            hint=f"finish it with `greenzone upgrade --bundle {latest.bundle}`, or undo it with `greenzone rollback`",
        )
    if latest is not None:
        return  # after an upgrade (finished or rolled back) the install's own phases no longer say it
    install = InstallState.load(state.install_state)
    if any(record.status != "done" for record in install.phases.values()):
        raise InputError(
            "the last install did not finish: an upgrade starts from a working appliance",
            hint="run `greenzone install` again to finish it (it resumes), then upgrade",
        )


def _answers(state: StateDir, given: Path | None, installed: Answers, bundle: Path) -> tuple[Answers, Path]:
    """The installed answers (or `given`) with the new bundle: nodes change only by `node add/remove`."""
    from greenzone.answers.files import load_valid_answers

    source = given if given is not None else state.installed_answers
    answers = load_valid_answers(given) if given is not None else installed
    if given is not None and answers.nodes != installed.nodes:
        raise InputError(
            f"{given} names other nodes than the installed appliance",
            hint="an upgrade keeps the nodes; change them before or after with `greenzone node add` / `node remove`",
        )
    moved = answers.model_copy(update={"bundle": answers.bundle.model_copy(update={"path": bundle})})
    return moved, source


# --- the plan and its preflight -------------------------------------------------------------------------


def _recorded_values(path: Path) -> dict[str, Any] | None:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None
    return loaded if isinstance(loaded, dict) else None


def bytes_to_push(bundle: Path, previous: Manifest, new: Manifest) -> int | None:
    """Bytes of the blobs the new images reach that the kept images do not: what the upgrade adds to
    Harbor (and each node's containerd). None when the bundle's layout cannot be read."""
    from greenzone.bundle.oci import Layout

    old = {image.ref: image.digest for image in previous.images}
    added = {image.ref for image in new.images if old.get(image.ref) != image.digest}
    layout = Layout(bundle / "images")
    try:
        index = layout.index()
        kept: dict[str, int] = {}
        fresh: dict[str, int] = {}
        for descriptor in index:
            target = fresh if descriptor.ref in added else kept
            for item in layout.walk(descriptor):
                target[item.digest] = item.size
    except (OSError, ValueError, KeyError):
        return None
    return sum(size for digest, size in fresh.items() if digest not in kept)


def _bundled_installer(manifest: Manifest) -> str | None:
    return next((item.version for item in manifest.components if item.name == "bootstrap"), None)


def _disks(answers: Answers) -> list[Any]:
    from greenzone.install.session import has_local_node
    from greenzone.preflight.facts_model import K3S_DATA_DIR
    from greenzone.preflight.host import disk_facts
    from greenzone.values.ours import MODEL_STORE_DIR

    if not has_local_node(answers):
        return []  # the nodes' disks: the preflight phase checks them before any change
    return [disk_facts("k3s data dir", Path(K3S_DATA_DIR)), disk_facts("model store", Path(MODEL_STORE_DIR))]


def _health(
    state: StateDir, answers: Answers, manifest: Manifest, endpoints: Mapping[str, str], layers: tuple[str, ...] = ()
) -> Report:
    from greenzone.health.run import LAYERS, run_health
    from greenzone.health.targets import health_targets

    images = [(image.ref, image.digest) for image in manifest.images]
    targets = health_targets(answers, state, images, endpoints, hostname=socket.gethostname())
    return run_health(targets, layers=layers or LAYERS).report


@dataclass(frozen=True)
class UpgradeOptions:
    bundle: Path
    answers: Path | None = None
    """Answers to apply (the installed ones when None); the nodes must stay the installed ones."""
    accept_failing: frozenset[str] = frozenset()
    allow_downgrade: bool = False
    skip_tags: tuple[str, ...] = ()
    forced: frozenset[str] = frozenset()
    endpoints: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Assessment:
    """Everything decided before the first change: the plan, its preflight, and the verdict a front
    end acts on (`unchanged`: the installed bundle again; `refused`: a check failed; `ready`)."""

    plan: UpgradePlan
    checks: tuple[Check, ...]
    data: dict[str, Any]
    verdict: str


@dataclass(frozen=True)
class UpgradeRun:
    report: Report
    outcome: Outcome
    notes: tuple[str, ...]


class UpgradeSession:
    """One upgrade's inputs, read once: what the plan shows and what the run acts on."""

    def __init__(self, state: StateDir, options: UpgradeOptions) -> None:
        self.options = options
        self.state = state
        installed_answers, installed_text = _installed(self.state)
        self.bundle: Path = options.bundle.expanduser().resolve()  # the playbooks run elsewhere
        self.new_text, self.new = read_bundle_manifest(self.bundle)
        self.resume = _resumable(self.state, _sha256(self.new_text))
        _refuse_unfinished(self.state, self.resume)
        if self.resume is not None:  # the state already names the new bundle: compare with what was there
            kept = history.previous_file(self.state, self.resume, "bundle.yaml")
            previous_text = kept.read_text(encoding="utf-8") if kept.is_file() else installed_text
        else:
            previous_text = installed_text
        self.previous = _manifest(previous_text, str(self.state.installed_manifest))
        self.previous_text = previous_text
        self.same_bundle = _sha256(previous_text) == _sha256(self.new_text)
        self.answers, self.source = _answers(self.state, options.answers, installed_answers, self.bundle)
        self.endpoints = options.endpoints
        self.health_failing: tuple[str, ...] = ()
        self.skip_tags = tuple(tag.strip() for item in options.skip_tags for tag in item.split(",") if tag.strip())
        self.cluster_skipped = "cluster" in self.skip_tags
        self.revisions: tuple[Revision, ...] | None = None
        self.revisions_problem = ""
        self.install_session: InstallSession | None = None
        self.site_copy: SiteCopy | None = None
        self.site_look: SiteLook | None = None
        """Set by the preflight when the delta bundle is made whole from the site as the upgrade starts."""
        self.canceled = False
        if self.resume is not None:  # what failed before this upgrade started, and was accepted then
            self.health_failing = self.resume.accepted

    def cancel(self) -> None:
        """From any thread: the running phase stops at its next task, recorded; a later run resumes."""
        self.canceled = True
        if self.site_copy is not None:
            self.site_copy.cancel()
        if self.install_session is not None:
            self.install_session.cancel()

    def values_source(self, release: str) -> Path:
        if self.resume is not None:
            return history.previous_file(self.state, self.resume, f"values/{release}.yaml")
        return self.state.values_file(release)

    def plan(self) -> UpgradePlan:
        from greenzone.values.releases import appliance_releases

        releases = [
            ReleaseValues(
                release.name,
                release.namespace,
                release.chart,
                release.values,
                _recorded_values(self.values_source(release.name)),
            )
            for release in appliance_releases(self.answers)
        ]
        return build_plan(
            self.previous,
            self.new,
            self.answers,
            releases,
            bytes_to_push=bytes_to_push(self.bundle, self.previous, self.new),
            same_bundle=self.same_bundle,
        )

    def preflight(self, plan: UpgradePlan) -> list[Check]:
        from greenzone import __version__
        from greenzone.bundle.verify import verify_bundle
        from greenzone.upgrade.rules import GROUP, UpgradeInputs, upgrade_checks

        # A delta the site can make whole is verified for what it carries; its delta check gates the rest.
        verification = verify_bundle(self.bundle, self.answers.bundle.public_key, whole=self.new.base is None)
        if self.resume is not None:
            health = None  # passed when this upgrade started; mid-upgrade it may rightly fail
        else:
            health = _health(self.state, self.answers, self.previous, self.endpoints)
            self.health_failing = tuple(check.name for check in health.checks if check.status is Status.FAIL)
        inputs = UpgradeInputs(
            plan=plan,
            verification=verification,
            running_installer=__version__,
            disks=_disks(self.answers),
            health=health,
            accepted=self.options.accept_failing,
            allow_downgrade=self.options.allow_downgrade,
        )
        checks = upgrade_checks(inputs, _bundled_installer(self.new))
        if self.new.base is not None:
            checks.append(self._delta_check(GROUP))
        checks.append(self._revisions_check(GROUP))
        if self.resume is None:
            checks.extend(self._cleanup_checks(plan, GROUP))
        if self.resume is not None:
            checks = [check for check in checks if check.name not in ("health before upgrade", "--accept-failing")]
            checks.append(
                Check(
                    "health before upgrade",
                    Status.PASS,
                    f"passed when this upgrade started ({self.resume.started}); it resumes",
                    group=GROUP,
                )
            )
        return checks

    def _cleanup_checks(self, plan: UpgradePlan, group: str) -> list[Check]:
        """The version the last upgrade kept for a rollback goes first (as `--finalize` would)."""
        from greenzone.upgrade.cleanup import waiting

        kept = waiting(self.state)
        if not kept:
            return []
        name = f"what {kept[0].from_product} left"
        skipped = [record.id for record in kept if record.cluster_skipped]
        if skipped:
            return [
                Check(
                    name,
                    Status.WARN,
                    f"kept: the upgrade {', '.join(skipped)} ran with --skip-tags cluster, so its pods may still "
                    "run it",
                    "run that upgrade again without --skip-tags cluster, then `greenzone upgrade --finalize`",
                    group=group,
                )
            ]
        return [
            Check(
                name,
                Status.PASS,
                f"deleted before this upgrade starts, as `greenzone upgrade --finalize` would; "
                f"`greenzone rollback` afterwards returns to {plan.old_product}",
                group=group,
            )
        ]

    def _delta_check(self, group: str) -> Check:
        """A delta bundle is made whole when the upgrade starts, from what this appliance keeps (Harbor's
        blobs, the nodes' k3s files and models, the state directory's copies): refused here, before
        any change, with the list of what is nowhere on site. `bundle complete --base` still makes it
        whole from the base bundle's directory."""
        from greenzone.bundle.delta import missing_from_base
        from greenzone.upgrade.from_site import SiteCopy

        base = self.new.base
        assert base is not None
        if not missing_from_base(self.bundle, self.new):
            return Check("delta bundle", Status.PASS, f"a delta of {base.product_version}, whole", group=group)
        fix = f"`greenzone bundle complete {self.bundle} --base BASE_DIR --key KEY.pub` with that bundle's directory"
        site = SiteCopy(self.state, self.answers, self.bundle, self.new, self.previous, self.endpoints)
        other = site.base_problem()
        if other:
            return Check(
                "delta bundle",
                Status.FAIL,
                other,
                f"ask the vendor for a delta of {self.previous.product_version}, or the whole bundle; or {fix}",
                group=group,
            )
        look = site.look()
        if look.lacking:
            return Check(
                "delta bundle",
                Status.FAIL,
                f"a delta of {base.product_version}: {len(look.lacking)} of the files it leaves out are nowhere on "
                f"this appliance: {look.lacking_text()}",
                f"{fix}, or ask the vendor for the whole bundle",
                group=group,
            )
        room = site.room_problem(look)
        if room:
            return Check("delta bundle", Status.FAIL, room[0], room[1], group=group)
        self.site_copy, self.site_look = site, look
        return Check(
            "delta bundle",
            Status.PASS,
            f"a delta of {base.product_version}: the files it leaves out come from this appliance when the "
            f"upgrade starts, each checked against the signed manifest: the {look.summary()}",
            group=group,
        )

    def _revisions_check(self, group: str) -> Check:
        """The releases' revisions a rollback returns to, read before any change: an upgrade that
        could not be undone is refused here rather than discovered after it."""
        if self.resume is not None:
            self.revisions, self.revisions_problem = self.resume.revisions, self.resume.revisions_problem
            return Check("Helm revisions", Status.PASS, "recorded when this upgrade started", group=group)
        if self.cluster_skipped:
            self.revisions_problem = "the cluster tasks were skipped (--skip-tags cluster)"
            return Check("Helm revisions", Status.SKIP, f"not read: {self.revisions_problem}", group=group)
        self.revisions, self.revisions_problem = _revisions(self.state, self.answers)
        if self.revisions is None:
            return Check(
                "Helm revisions",
                Status.FAIL,
                f"{self.revisions_problem}: neither the health gates nor `greenzone rollback` could undo this upgrade",
                "check the Kubernetes API (`greenzone health --layer cluster`), then run the upgrade again",
                group=group,
            )
        installed = sum(1 for item in self.revisions if item.revision is not None)
        return Check("Helm revisions", Status.PASS, f"{installed} release(s) recorded for a rollback", group=group)


# --- the upgrade ---------------------------------------------------------------------------------------


def _revisions(state: StateDir, answers: Answers) -> tuple[tuple[Revision, ...] | None, str]:
    """Each release's deployed revision before anything changes; (None, why) where helm cannot say."""
    from greenzone.cluster.helm import deployed_revisions, find_helm
    from greenzone.values.releases import appliance_releases

    releases = [(release.name, release.namespace) for release in appliance_releases(answers)]
    if not state.kubeconfig.is_file():
        return None, f"no kubeconfig in {state}: the releases' revisions could not be read"
    try:
        found = deployed_revisions(find_helm(None, state), state.kubeconfig, releases)
    except (GreenzoneError, OSError) as error:
        return None, f"helm could not read the releases' revisions: {getattr(error, 'title', error)}"
    except Exception as error:  # pyhelm3 raises its own errors for helm's failures
        return None, f"helm could not read the releases' revisions: {str(error).strip().splitlines()[-1:]}"
    return (
        tuple(
            Revision(name, namespace, item[2] if item else None, item[3] if item else "")
            for (name, namespace), item in zip(releases, found, strict=True)
        ),
        "",
    )


def gate_check(phase: str, health: Report, accepted: frozenset[str] = frozenset()) -> Check | None:
    """The health gate's verdict after `phase` (pure): None when the layers it touched work, the
    checks the operator accepted before the upgrade aside."""
    failing = [check for check in health.checks if check.status is Status.FAIL and check.name not in accepted]
    if not failing:
        return None
    listed = "; ".join(f"{check.name}: {check.detail}" for check in failing[:3])
    return Check(
        f"health gate after {phase}",
        Status.FAIL,
        f"{len(failing)} check(s) fail: {listed}",
        failing[0].remedy or "see `greenzone health`",
        group="upgrade",
    )


#: Pods move and restart after a phase (a drained node, a rolled release): the gate asks again for up
#: to this long before it judges.
GATE_SETTLE_S = 180.0
GATE_INTERVAL_S = 10.0


def settled_gate(
    phase: str, ask: Callable[[], Report], accepted: frozenset[str], *, settle: float = GATE_SETTLE_S
) -> Check | None:
    import time

    deadline = time.monotonic() + settle
    while True:
        stopped = gate_check(phase, ask(), accepted)
        if stopped is None or time.monotonic() + GATE_INTERVAL_S > deadline:
            return stopped
        time.sleep(GATE_INTERVAL_S)


def _rollback_phase(state: StateDir, record: UpgradeRecord, phase: str) -> str:
    from greenzone.cluster.helm import find_helm, rollback_release

    release = PHASE_RELEASE.get(phase)
    if release is None:
        return ""
    if record.revisions is None:
        return f"; {release} could not be rolled back: {record.revisions_problem}"
    target = next((item for item in record.revisions if item.release == release), None)
    if target is None:
        return ""
    try:
        rollback_release(
            find_helm(None, state), state.kubeconfig, release, target.namespace, target.revision, ROLLBACK_TIMEOUT
        )
    except Exception as error:  # reported, not raised: the gate's own failure is the news
        return f"; rolling {release} back failed too: {str(error).strip().splitlines()[-1:] or type(error).__name__}"
    where = f"revision {target.revision}" if target.revision is not None else "not installed"
    return f"; {release} was rolled back to {where}"


def _gate(work: UpgradeSession, record: Callable[[], UpgradeRecord]) -> Callable[[str, PhaseProgress], Check | None]:
    def gate(phase: str, progress: PhaseProgress) -> Check | None:
        layers = PHASE_LAYERS.get(phase)
        if work.cluster_skipped or not layers:
            return None  # with the cluster tasks skipped nothing changed there to judge
        stopped = settled_gate(
            phase,
            lambda: _health(work.state, work.answers, work.new, work.endpoints, layers),
            frozenset(record().accepted),
        )
        if stopped is None:
            return None
        undone = _rollback_phase(work.state, record(), phase)
        return replace(
            stopped,
            detail=stopped.detail + undone,
            remedy=f"{stopped.remedy}; then run the same `greenzone upgrade` again to resume, or `greenzone rollback`",
        )

    return gate


def assess(work: UpgradeSession) -> Assessment:
    plan = work.plan()
    data: dict[str, Any] = {"plan": plan.to_json(), "resume": work.resume.id if work.resume else None}
    if work.same_bundle and work.resume is None:  # a second run of a finished upgrade: says so, changes nothing
        return Assessment(plan, tuple(plan.checks()), {**data, "verdict": "unchanged"}, "unchanged")
    checks = (*plan.checks(), *work.preflight(plan))
    verdict = "refused" if any(check.status is Status.FAIL for check in checks) else "ready"
    return Assessment(plan, checks, {**data, "health_failing": list(work.health_failing), "verdict": verdict}, verdict)


def run_upgrade(
    work: UpgradeSession,
    plan: UpgradePlan,
    shown: list[Check],
    data: dict[str, Any],
    listener: Callable[[Any, PhaseProgress, str | None], None] | None = None,
    *,
    handle_signals: bool = True,
) -> UpgradeRun:
    """The upgrade itself, after the front end showed `shown` and had it confirmed. `handle_signals`:
    Ctrl-C and SIGTERM cancel at the next task (the CLI); a front end with its own loop (the wizard)
    calls `work.cancel()` instead."""
    from greenzone.install.session import InstallSession
    from greenzone.values.releases import appliance_releases

    state = work.state
    session = InstallSession(
        state,
        skip_tags=work.skip_tags,
        forced=work.options.forced,
        upgrade=True,
    )
    brought: list[Check] = []
    if work.site_copy is not None:  # before anything of the appliance changes
        brought = [_bring_from_site(work.site_copy, work, listener)]
        if work.canceled:
            checks = [*(check for check in shown if check.group == "plan"), *brought]
            report = Report("upgrade", tuple(checks), data, title="Upgrade canceled before it started", grouped=True)
            return UpgradeRun(report, "canceled", ())
    prepared = session.prepare(work.answers, work.source, work.bundle)
    record = work.resume
    cleaned: list[Check] = []
    if record is None:
        from greenzone.upgrade.cleanup import before_upgrade

        # Before this upgrade's record exists: the last one's is then the newest, and its leftovers go.
        cleaned = before_upgrade(state, [f"{name}={url}" for name, url in work.endpoints.items()])
        if work.canceled:  # canceled while the clean-up ran: the upgrade itself has not started
            checks = [*(check for check in shown if check.group == "plan"), *cleaned]
            report = Report("upgrade", tuple(checks), data, title="Upgrade canceled before it started", grouped=True)
            return UpgradeRun(report, "canceled", ())
        now = datetime.datetime.now(datetime.UTC)
        record = UpgradeRecord(
            id=history.new_id(now),
            started=now.isoformat(timespec="seconds"),
            from_product=plan.old_product,
            to_product=plan.new_product,
            bundle=str(work.bundle),
            bundle_sha256=_sha256(work.new_text),
            revisions=work.revisions,
            revisions_problem=work.revisions_problem,
            accepted=tuple(name for name in work.health_failing if name in work.options.accept_failing),
            cluster_skipped=work.cluster_skipped,
        )
        history.start(state, record, plan.to_json(), [release.name for release in appliance_releases(work.answers)])
    else:
        record = history.finish(state, record, "running", failed_phase="")
    current = record

    work.install_session = session
    if work.canceled:
        session.cancel()
    with session.cancel_on_signals() if handle_signals else contextlib.nullcontext():
        run = session.run(prepared, listener, _gate(work, lambda: current))
    outcome = run.report.data.get("outcome")
    failed = next((check.name for check in run.report.checks if check.status is Status.FAIL), "")
    final: Outcome = "succeeded" if outcome == "successful" else "canceled" if outcome == "canceled" else "failed"
    phases = tuple((check.name, check.status.value) for check in run.report.checks if check.group == "deploy")
    record = history.finish(state, record, final, failed_phase=failed, phases=phases)
    checks = [*(check for check in shown if check.group == "plan"), *brought, *cleaned, *run.report.checks]
    notes: list[str] = [f"the upgrade's record: {state.upgrade_record(record.id)}"]
    if record.revisions is None:
        notes.append(f"no rollback is possible for this upgrade: {record.revisions_problem}")
    if final == "succeeded":
        checks.append(_health_after(work))
        notes.append(
            "the previous version's images stay until `greenzone upgrade --finalize` (or the next upgrade, "
            "which deletes them first); `greenzone rollback` returns the releases until then"
        )
        title = f"Upgraded {plan.old_product} → {plan.new_product}"
    elif final == "canceled":
        title = "Upgrade canceled: run the same command to resume"
    else:
        title = "Upgrade stopped: fix the failure and run the same command to resume, or `greenzone rollback`"
    report = Report("upgrade", tuple(checks), {**data, "record": record.to_json()}, title=title, grouped=True)
    return UpgradeRun(report, final, tuple(notes))


def _bring_from_site(
    site: SiteCopy, work: UpgradeSession, listener: Callable[[Any, PhaseProgress, str | None], None] | None
) -> Check:
    """The delta's left-out files into its directory; a problem raises before anything else changed."""
    import time

    started = time.time()
    look = site.bring(lambda: work.canceled, work.site_look)
    done = not work.canceled
    if listener is not None:
        count = len(look.found)
        progress = PhaseProgress(
            "delta files", count, started, count, ok=count if done else 0, outcome="successful" if done else "canceled"
        )
        progress.finished = time.time()
        listener(None, progress, None)
    if not done:
        return Check("delta files", Status.WARN, "canceled: the files brought so far are kept", group="upgrade")
    return Check(
        "delta files",
        Status.PASS,
        f"brought from this appliance in {time.time() - started:.0f} s, each checked against the signed "
        f"manifest: {look.summary()}",
        group="upgrade",
    )


def _health_after(work: UpgradeSession) -> Check:
    try:
        health = _health(work.state, work.answers, work.new, work.endpoints)
    except GreenzoneError as error:
        return Check("health", Status.WARN, f"could not run: {error.title}", error.hint, group="upgrade")
    failing = [check.name for check in health.checks if check.status is Status.FAIL]
    new = [name for name in failing if name not in work.health_failing]
    if not failing:
        return Check("health", Status.PASS, f"every layer works: {health.tally()}", group="upgrade")
    if not new:
        return Check(
            "health",
            Status.WARN,
            f"only what failed before the upgrade fails: {', '.join(failing[:6])}",
            group="upgrade",
        )
    return Check(
        "health",
        Status.WARN,
        f"after the upgrade {len(new)} more check(s) fail: {', '.join(new[:6])}",
        "`greenzone health` says how to fix each; `greenzone rollback` returns the previous releases",
        group="upgrade",
    )

"""The upgrade's preflight (pure): everything that refuses an upgrade, decided before any change.

Each refusal names why and how to go on. The inputs are what the adapters read: the new bundle's
verification with the site's vendor key, the plan, the disks, the last health run and the names the
operator accepts as failing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from greenzone.preflight.facts_model import DiskFacts
from greenzone.results import Check, Report, Status
from greenzone.upgrade.plan import UpgradePlan
from greenzone.upgrade.versions import compare, k3s_refusal

GROUP = "upgrade preflight"
#: Harbor stores each new blob once and every node's containerd unpacks it again: both live under
#: the k3s data directory on a single-node appliance. The margin keeps health's own disk check green.
IMAGE_COPIES = 2
MARGIN = 0.10


@dataclass(frozen=True)
class UpgradeInputs:
    plan: UpgradePlan
    verification: Report | None
    """`bundle verify` of the new bundle with the site's key; None when it was not run (check only)."""
    running_installer: str
    disks: Sequence[DiskFacts]
    health: Report | None
    """The last health run of the installed appliance (or a fresh one); None when none exists."""
    accepted: frozenset[str] = frozenset()
    """Failing health checks the operator named to go on anyway (`--accept-failing NAME`)."""
    allow_downgrade: bool = False


def _check(name: str, status: Status, detail: str, remedy: str = "") -> Check:
    return Check(name, status, detail, remedy, group=GROUP)


def upgrade_checks(inputs: UpgradeInputs, bundle_installer: str | None) -> list[Check]:
    plan = inputs.plan
    checks = [_signature(inputs.verification)]
    checks.append(_installer(inputs.running_installer, bundle_installer))
    if compare(plan.old_product, plan.new_product) == -1:
        checks.append(
            _check(
                "product version",
                Status.WARN if inputs.allow_downgrade else Status.FAIL,
                f"{plan.old_product} → {plan.new_product} is an older version"
                + (" (allowed by --allow-downgrade)" if inputs.allow_downgrade else ""),
                ""
                if inputs.allow_downgrade
                else "use the newer bundle, or pass --allow-downgrade if the vendor says to",
            )
        )
    if plan.k3s is not None and plan.k3s.old and plan.k3s.new:
        refusal = k3s_refusal(plan.k3s.old, plan.k3s.new)
        if refusal:
            checks.append(_check("k3s version", Status.FAIL, *refusal))
        else:
            same = plan.k3s.old == plan.k3s.new
            checks.append(
                _check("k3s version", Status.PASS, "unchanged" if same else f"{plan.k3s.shown()}: one step, allowed")
            )
    checks.extend(_charts(plan, inputs.allow_downgrade))
    checks.extend(_disks(plan, inputs.disks))
    checks.extend(health_gate(inputs.health, inputs.accepted))
    return checks


def _signature(verification: Report | None) -> Check:
    if verification is None:
        return _check("bundle signature", Status.SKIP, "not verified in this run")
    failing = [check for check in verification.checks if check.status == Status.FAIL]
    if failing:
        listed = "; ".join(f"{check.name}: {check.detail}" for check in failing[:3])
        return _check(
            "bundle signature",
            Status.FAIL,
            f"the new bundle does not verify with the site's vendor key: {listed}",
            "copy the bundle again from the vendor's medium; `greenzone bundle verify` names each damaged file",
        )
    return _check("bundle signature", Status.PASS, "signed by the site's vendor key; every file as the manifest lists")


def _installer(running: str, bundled: str | None) -> Check:
    if bundled is None:
        return _check("installer version", Status.PASS, f"greenzone {running} (the bundle names none)")
    order = compare(running, bundled)
    if order == 1:
        return _check(
            "installer version",
            Status.FAIL,
            f"this greenzone is {running}, the bundle was built for {bundled}: its playbooks and values belong to it",
            "run the bundle's own installer: `sh NEW_BUNDLE/install.sh upgrade --bundle NEW_BUNDLE`",
        )
    return _check("installer version", Status.PASS, f"greenzone {running} runs a bundle built by {bundled}")


def _charts(plan: UpgradePlan, allow_downgrade: bool) -> Iterable[Check]:
    for release in plan.releases:
        chart = release.chart
        if chart.verdict == "downgraded":
            yield _check(
                f"chart {chart.name}",
                Status.WARN if allow_downgrade else Status.FAIL,
                f"{chart.shown()} is a downgrade" + (" (allowed by --allow-downgrade)" if allow_downgrade else ""),
                "" if allow_downgrade else "use a newer bundle, or pass --allow-downgrade if the vendor says to",
            )
        elif chart.new is None:
            yield _check(
                f"chart {chart.name}",
                Status.FAIL,
                f"the new bundle carries no chart {chart.name}, which release {release.name} needs",
                "ask the vendor for a complete bundle (`greenzone bundle verify` lists what it carries)",
            )


def _free(disks: Sequence[DiskFacts], purpose: str) -> DiskFacts | None:
    return next((disk for disk in disks if disk.purpose == purpose), None)


def _gib(count: float) -> str:
    return f"{count / 2**30:.1f} GiB"


def _disks(plan: UpgradePlan, disks: Sequence[DiskFacts]) -> Iterable[Check]:
    images = _free(disks, "k3s data dir")
    if plan.bytes_to_push is None:
        yield _check("disk for new images", Status.SKIP, "the new bundle's image layout could not be read")
    elif images is not None:
        need = int(plan.bytes_to_push * IMAGE_COPIES * (1 + MARGIN))
        ok = images.free_bytes >= need
        yield _check(
            "disk for new images",
            Status.PASS if ok else Status.FAIL,
            f"{_gib(need)} needed beside the current images (Harbor and containerd each keep a copy until "
            f"--finalize), {_gib(images.free_bytes)} free at {images.measured_at}",
            "" if ok else "free space there, or run `greenzone upgrade --finalize` for the previous upgrade first",
        )
    models = _free(disks, "model store")
    if plan.model_bytes_added and models is not None:
        need = int(plan.model_bytes_added * (1 + MARGIN))
        ok = models.free_bytes >= need
        yield _check(
            "disk for new models",
            Status.PASS if ok else Status.FAIL,
            f"{_gib(need)} needed, {_gib(models.free_bytes)} free at {models.measured_at}",
            "" if ok else "free space in the model store, or remove models the answers no longer serve",
        )


def health_gate(health: Report | None, accepted: frozenset[str]) -> list[Check]:
    """Green before starting, or each failing check named by the operator: an upgrade on a broken
    appliance cannot tell its own damage from what was there."""
    if health is None:
        return [
            _check(
                "health before upgrade",
                Status.FAIL,
                "no health run of the installed appliance was found",
                "run `greenzone health` and fix what it reports, then upgrade",
            )
        ]
    failing = [check.name for check in health.checks if check.status == Status.FAIL]
    unknown = sorted(accepted - set(failing))
    checks = []
    if unknown:
        checks.append(
            _check(
                "--accept-failing",
                Status.FAIL,
                f"not failing now: {', '.join(unknown)}",
                f"name only checks that fail: {', '.join(failing) or 'none fails'}",
            )
        )
    open_failures = [name for name in failing if name not in accepted]
    if open_failures:
        checks.append(
            _check(
                "health before upgrade",
                Status.FAIL,
                f"{len(open_failures)} check(s) fail: {', '.join(open_failures)}",
                "fix them first (`greenzone health` says how), or name each with --accept-failing NAME",
            )
        )
    elif failing:
        checks.append(
            _check(
                "health before upgrade",
                Status.WARN,
                f"failing, accepted by the operator: {', '.join(failing)}",
            )
        )
    else:
        checks.append(_check("health before upgrade", Status.PASS, f"{health.tally() or 'no checks'}"))
    return checks

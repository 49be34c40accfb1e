"""What an upgrade will do, before anything changes (pure): the installed bundle against the new one.

Built from the two signed manifests, the values the install recorded against the values the new
installer renders, and the bytes the new images add; nothing here reads a file or a cluster. The
same plan is the table `greenzone upgrade --check` prints, its JSON, and what the upgrade records
in its history (so a rollback knows what it is undoing).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from greenzone.answers.model import Answers
from greenzone.bundle.manifest import Manifest
from greenzone.results import Check, Status
from greenzone.upgrade.versions import compare

Verdict = Literal["added", "removed", "upgraded", "downgraded", "changed", "same"]

#: Components whose version a person reads in the plan; images, models and wheels have their own rows.
_VERSIONED_KINDS = ("binary", "script", "archive", "runtime", "chart")

#: What a user of each service notices while its release rolls (the charts' own update strategies:
#: one engine pod per GPU set, Recreate where the GPUs allow no surge; Harbor's core and registry
#: restart; Prometheus keeps its data). Shown per release that restarts.
INTERRUPTION = {
    "gpu-operator": "running GPU workloads keep running; the operator's pods restart, and a new driver "
    "version restarts each GPU node's driver (its GPU pods stop meanwhile)",
    "harbor": "image pulls and pushes fail for about a minute while Harbor's pods restart; running pods are not affected",
    "monitoring": "dashboards and alerts pause for about a minute; metrics already stored are kept",
    "greenzone-inference": "the model API and chat UI stop while the engine restarts and loads its models "
    "(a few minutes, longer for big models); a new gateway restarts in seconds and its per-minute limits "
    "start afresh",
    "greenzone-guardrails": "none: quotas and network policies change in place",
}
K3S_INTERRUPTION = (
    "each server's API restarts in turn (kubectl and the dashboards pause for about a minute each); "
    "each node is drained first, so its pods move or wait until it is back (a pod its disruption budget "
    "protects keeps running through the restart)"
)
K3S_ALONE = "k3s restarts in place on the only node: the API pauses for about a minute; running pods keep running"


def verdict(old: str | None, new: str | None) -> Verdict:
    if old is None:
        return "added"
    if new is None:
        return "removed"
    order = compare(old, new)
    return {0: "same", 1: "upgraded", -1: "downgraded"}.get(order, "changed") if order is not None else "changed"  # type: ignore[return-value]


@dataclass(frozen=True)
class Change:
    name: str
    kind: str
    old: str | None
    new: str | None

    @property
    def verdict(self) -> Verdict:
        return verdict(self.old, self.new)

    def shown(self) -> str:
        if self.old is None:
            return f"new: {self.new}"
        if self.new is None:
            return f"removed (was {self.old})"
        return self.old if self.old == self.new else f"{self.old} → {self.new}"

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "old": self.old, "new": self.new, "verdict": self.verdict}


@dataclass(frozen=True)
class ValueChange:
    key: str
    old: str
    new: str


@dataclass(frozen=True)
class ReleaseChange:
    name: str
    namespace: str
    chart: Change
    values: tuple[ValueChange, ...]
    values_recorded: bool
    """False when the install's values file for it could not be read: every key counts as changed."""

    @property
    def restarts(self) -> bool:
        return self.chart.verdict != "same" or bool(self.values) or not self.values_recorded

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "namespace": self.namespace,
            "chart": self.chart.to_json(),
            "values": [vars(change) for change in self.values],
            "values_recorded": self.values_recorded,
            "restarts": self.restarts,
            "interruption": INTERRUPTION.get(self.name, "") if self.restarts else "",
        }


@dataclass(frozen=True)
class ImageRow:
    ref: str
    digest: str


@dataclass(frozen=True)
class UpgradePlan:
    old_product: str
    new_product: str
    components: tuple[Change, ...]
    releases: tuple[ReleaseChange, ...]
    images_added: tuple[ImageRow, ...]
    images_removed: tuple[ImageRow, ...]
    images_kept: tuple[ImageRow, ...]
    bytes_to_push: int | None
    """Bytes of blobs the new images add over the kept ones: what Harbor and each node's containerd
    store beside the previous version until `--finalize`. None when the new bundle's layout is absent."""
    models: tuple[Change, ...]
    model_bytes_added: int
    served_models: tuple[str, ...]
    k3s: Change | None
    k3s_order: tuple[tuple[str, str], ...]
    """(node, role): servers one at a time, then agents, as docs.k3s.io/upgrades/manual says."""
    same_bundle: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict[str, Any]:
        return {
            "product": {"old": self.old_product, "new": self.new_product},
            "same_bundle": self.same_bundle,
            "components": [change.to_json() for change in self.components],
            "releases": [release.to_json() for release in self.releases],
            "images": {
                "added": [vars(row) for row in self.images_added],
                "removed": [vars(row) for row in self.images_removed],
                "unchanged": len(self.images_kept),
                "bytes_to_push": self.bytes_to_push,
            },
            "models": [change.to_json() for change in self.models],
            "model_bytes_added": self.model_bytes_added,
            "served_models": list(self.served_models),
            "k3s": self.k3s.to_json() if self.k3s else None,
            "k3s_order": [{"node": node, "role": role} for node, role in self.k3s_order],
            "notes": list(self.notes),
        }

    def checks(self) -> list[Check]:
        """The plan as rows of the one result model (group "plan"), for the table and the wizard."""
        rows = [_row("product", f"{self.old_product} → {self.new_product}")]
        if self.same_bundle:
            rows.append(_row("bundle", "the installed bundle itself: the upgrade re-applies it and changes nothing"))
        for change in self.components:
            if change.kind != "chart" and change.verdict != "same":
                rows.append(_row(change.name, change.shown()))
        if self.k3s is not None and self.k3s.verdict != "same":
            order = ", ".join(f"{node} ({role})" for node, role in self.k3s_order)
            effect = K3S_INTERRUPTION if len(self.k3s_order) > 1 else K3S_ALONE
            rows.append(_row("k3s upgrade order", f"one at a time: {order}; {effect}"))
        for release in self.releases:
            rows.append(_row(f"release {release.name}", _release_detail(release)))
        rows.append(_row("images", _images_detail(self)))
        changed_models = [change for change in self.models if change.verdict != "same"]
        if changed_models:
            listed = "; ".join(f"{change.name}: {change.shown()}" for change in changed_models)
            rows.append(_row("models", f"{listed} ({_size(self.model_bytes_added)} to seed)"))
        rows.extend(_row("note", note) for note in self.notes)
        return rows


def _row(name: str, detail: str) -> Check:
    return Check(name, Status.PASS, detail, group="plan")


def _size(count: int | None) -> str:
    if count is None:
        return "size unknown"
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


_SHOWN_VALUES = 4


def _release_detail(release: ReleaseChange) -> str:
    parts = [f"chart {release.chart.shown()}"]
    if not release.values_recorded:
        parts.append("values: the install's record is missing, so they are applied again in full")
    elif release.values:
        listed = "; ".join(f"{change.key}: {change.old} → {change.new}" for change in release.values[:_SHOWN_VALUES])
        more = f"; and {len(release.values) - _SHOWN_VALUES} more" if len(release.values) > _SHOWN_VALUES else ""
        parts.append(f"{len(release.values)} value(s) change: {listed}{more}")
    else:
        parts.append("values unchanged")
    if release.restarts:
        parts.append(f"restarts; interruption: {INTERRUPTION.get(release.name, 'its pods restart')}")
    else:
        parts.append("nothing restarts")
    return "; ".join(parts)


def _images_detail(plan: UpgradePlan) -> str:
    text = (
        f"{len(plan.images_added)} added ({_size(plan.bytes_to_push)} to push), {len(plan.images_removed)} "
        f"no longer used, {len(plan.images_kept)} unchanged"
    )
    if plan.images_removed:
        text += "; the previous version's images stay until `greenzone upgrade --finalize`"
    return text


# --- building it -------------------------------------------------------------------------------------


def _components(manifest: Manifest) -> dict[str, tuple[str, str]]:
    return {item.name: (item.kind, item.version) for item in manifest.components if item.kind in _VERSIONED_KINDS}


def component_changes(installed: Manifest, new: Manifest) -> tuple[Change, ...]:
    before, after = _components(installed), _components(new)
    names = list(dict.fromkeys([*after, *before]))
    return tuple(
        Change(
            name,
            (after.get(name) or before[name])[0],
            before[name][1] if name in before else None,
            after[name][1] if name in after else None,
        )
        for name in names
    )


def value_changes(old: Mapping[str, Any], new: Mapping[str, Any]) -> tuple[ValueChange, ...]:
    """Leaf differences with secrets masked, by parity's own comparison, so that the two commands
    agree on what differs and how a value is shown."""
    from greenzone.sync.parity import shown_value, value_differences

    return tuple(
        ValueChange(".".join(path), shown_value(path, before), shown_value(path, after))
        for path, before, after in value_differences(old, new)
    )


def k3s_order(answers: Answers) -> tuple[tuple[str, str], ...]:
    from greenzone.deploy.inventory import inventory_name

    named = [(inventory_name(node, index), node.role) for index, node in enumerate(answers.nodes)]
    return tuple([row for row in named if row[1] == "server"] + [row for row in named if row[1] == "agent"])


@dataclass(frozen=True)
class ReleaseValues:
    name: str
    namespace: str
    chart: str
    new_values: Mapping[str, Any]
    recorded_values: Mapping[str, Any] | None


def build_plan(
    installed: Manifest,
    new: Manifest,
    answers: Answers,
    releases: Sequence[ReleaseValues],
    *,
    bytes_to_push: int | None,
    same_bundle: bool = False,
) -> UpgradePlan:
    components = component_changes(installed, new)
    by_name = {change.name: change for change in components}
    release_changes = tuple(
        ReleaseChange(
            release.name,
            release.namespace,
            by_name.get(release.chart, Change(release.chart, "chart", None, None)),
            value_changes(release.recorded_values, release.new_values) if release.recorded_values is not None else (),
            release.recorded_values is not None,
        )
        for release in releases
    )
    old_images = {image.ref: image.digest for image in installed.images}
    new_images = {image.ref: image.digest for image in new.images}
    added = tuple(ImageRow(ref, digest) for ref, digest in new_images.items() if old_images.get(ref) != digest)
    removed = tuple(ImageRow(ref, digest) for ref, digest in old_images.items() if new_images.get(ref) != digest)
    kept = tuple(ImageRow(ref, digest) for ref, digest in new_images.items() if old_images.get(ref) == digest)
    model_versions = {
        "old": {item.name: item.version for item in installed.components if item.kind == "model"},
        "new": {item.name: item.version for item in new.components if item.kind == "model"},
    }
    old_models = {model.name: model for model in installed.models}
    new_models = {model.name: model for model in new.models}
    models = tuple(
        Change(
            name,
            "model",
            _model_version(model_versions["old"], name) if name in old_models else None,
            _model_version(model_versions["new"], name) if name in new_models else None,
        )
        for name in dict.fromkeys([*new_models, *old_models])
    )
    seeded = sum(new_models[change.name].size_bytes for change in models if change.new and change.verdict != "same")
    k3s = by_name.get("k3s")
    notes = []
    if k3s is not None and k3s.verdict == "upgraded":
        notes.append("a rollback returns the Helm releases and models; k3s itself is never downgraded")
    return UpgradePlan(
        old_product=installed.product_version,
        new_product=new.product_version,
        components=components,
        releases=release_changes,
        images_added=added,
        images_removed=removed,
        images_kept=kept,
        bytes_to_push=bytes_to_push,
        models=models,
        model_bytes_added=seeded,
        served_models=tuple(answers.inference.models),
        k3s=k3s,
        k3s_order=k3s_order(answers),
        same_bundle=same_bundle,
        notes=tuple(notes),
    )


def _model_version(versions: Mapping[str, str], name: str) -> str:
    # A model's component version is its pinned digest (or "files"); the plan shows it short.
    version = versions.get(name, "pinned")
    return version[:19] if version.startswith("sha256:") else version

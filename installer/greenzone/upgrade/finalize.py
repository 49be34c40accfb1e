"""What `greenzone upgrade --finalize` deletes (pure): what the previous version used and nothing that
runs now uses, from the two signed manifests and the answers.

An image goes only when no image of the running version has its digest (one digest can carry two
tags, and an index's platforms are separate manifests); a model file goes only when no model of the
running version lists it (Ollama models share blobs) and the answers do not serve that model. The
rest stays: what is kept, and why, is listed beside what goes.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from greenzone.bundle.manifest import BundleImage, BundleModel, Manifest
from greenzone.results import Check, Status
from greenzone.upgrade.plan import ImageRow

MODELS_PREFIX = "models/"


@dataclass(frozen=True)
class FinalizePlan:
    images: tuple[ImageRow, ...]
    kept_images: tuple[str, ...]
    """Previous images still in use under another name (same digest): never deleted."""
    models: tuple[str, ...]
    model_files: tuple[str, ...]
    """Paths under the bundle's `models/` (the nodes' copy and the model store use the same paths)."""
    model_bytes: int
    kept_models: tuple[str, ...]
    """Previous models the answers still serve, or whose files the running version lists."""

    @property
    def empty(self) -> bool:
        return not self.images and not self.model_files

    def checks(self, *, done: bool) -> list[Check]:
        verb = "deleted" if done else "would be deleted"
        rows = []
        if self.images:
            listed = ", ".join(image.ref for image in self.images[:6])
            more = f" and {len(self.images) - 6} more" if len(self.images) > 6 else ""
            rows.append(f"{len(self.images)} image(s) {verb} from Harbor and every node: {listed}{more}")
        if self.models or self.model_files:
            rows.append(
                f"model(s) {', '.join(self.models) or '(shared files only)'}: {len(self.model_files)} file(s), "
                f"{self.model_bytes / 2**30:.1f} GiB {verb} from the nodes' model stores"
            )
        if self.kept_images:
            rows.append(f"kept, the running version uses them: {', '.join(self.kept_images)}")
        if self.kept_models:
            rows.append(f"models kept, still served or shared: {', '.join(self.kept_models)}")
        if not rows:
            rows.append("nothing the previous version left: every image and model is in use")
        return [Check("finalize", Status.PASS, row, group="finalize") for row in rows]


def _model_paths(manifest: Manifest, name: str) -> list[str]:
    component = next(
        (item for item in manifest.components if item.kind == "model" and item.name == name),
        None,
    )
    return [path for path in (component.paths if component else []) if path.startswith(MODELS_PREFIX)]


@dataclass(frozen=True)
class Running:
    """What the cluster's pods run now, from their specs and container statuses."""

    refs: frozenset[str] = frozenset()
    digests: frozenset[str] = frozenset()


def running_images(pods: Sequence[Mapping[str, Any]]) -> Running:
    """Image references and digests in use by every pod (init containers included): `imageID` is
    `repository@sha256:...` as containerd resolved it, which is the digest the bundle records."""
    refs: set[str] = set()
    digests: set[str] = set()
    for pod in pods:
        spec, status = pod.get("spec") or {}, pod.get("status") or {}
        for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
            if container.get("image"):
                refs.add(str(container["image"]))
        for key in ("initContainerStatuses", "containerStatuses"):
            for container in status.get(key) or []:
                found = _DIGEST.search(str(container.get("imageID") or ""))
                if found:
                    digests.add(found.group(0))
    return Running(frozenset(refs), frozenset(digests))


_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def finalize_plan(
    previous: Sequence[Manifest], current: Manifest, served: Sequence[str], running: Running | None = None
) -> FinalizePlan:
    """What the versions before `current` left (each upgrade not finalized yet brings one), less what
    `current`, the answers or the running pods use."""
    running = running or Running()
    in_use = (
        {image.digest for image in current.images}
        | {image.source_digest for image in current.images if image.source_digest}
        | set(running.digests)
    )
    current_refs = {item.ref for item in current.images}
    images: list[ImageRow] = []
    kept_images: list[str] = []
    for image in _unique(item for manifest in previous for item in manifest.images):
        if image.digest in in_use or (image.ref in running.refs and image.ref not in current_refs):
            if image.ref not in current_refs and image.ref not in kept_images:
                kept_images.append(image.ref)
            continue
        images.append(ImageRow(image.ref, image.digest))
    current_files = {path for model in current.models for path in _model_paths(current, model.name)} | {
        path for item in current.components if item.name == "model-sums" for path in item.paths
    }
    sizes = {item.path: item.size for manifest in previous for item in manifest.files}
    models: list[str] = []
    files: list[str] = []
    kept_models: list[str] = []
    current_names = {model.name for model in current.models}
    for manifest, model in _unique_models(previous):
        if model.name in current_names:
            continue
        if model.name in served:
            kept_models.append(model.name)
            continue
        gone = [path for path in _model_paths(manifest, model.name) if path not in current_files]
        if not gone:
            kept_models.append(model.name)
            continue
        models.append(model.name)
        files.extend(path for path in gone if path not in files)
    return FinalizePlan(
        images=tuple(images),
        kept_images=tuple(kept_images),
        models=tuple(models),
        model_files=tuple(path[len(MODELS_PREFIX) :] for path in files),
        model_bytes=sum(sizes.get(path, 0) for path in files),
        kept_models=tuple(kept_models),
    )


def _unique(images: Iterable[BundleImage]) -> list[BundleImage]:
    seen: dict[tuple[str, str], BundleImage] = {}
    for image in images:
        seen.setdefault((image.ref, image.digest), image)
    return list(seen.values())


def _unique_models(manifests: Sequence[Manifest]) -> list[tuple[Manifest, BundleModel]]:
    seen: dict[str, tuple[Manifest, BundleModel]] = {}
    for manifest in manifests:
        for model in manifest.models:
            seen.setdefault(model.name, (manifest, model))
    return list(seen.values())

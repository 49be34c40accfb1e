"""Charts and images of the bundle into the cloud registry: the adapter over `helm push` and the
registry client.

Each artifact is first looked up in the registry and skipped when it is already there with the
bundle's digest, so an interrupted sync resumes where it stopped and a second one uploads nothing.
A chart pushed by helm stores the `.tgz` as its layer, so the layer digest is the archive's sha256,
which the signed manifest lists: that is how a chart counts as "already there".
"""

from __future__ import annotations

import json
import logging
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from greenzone import peers
from greenzone.bundle.manifest import Manifest
from greenzone.bundle.oci import DOCKER_MANIFEST, INDEX_TYPES, MANIFEST, Layout
from greenzone.bundle.registry import (
    PushStats,
    Registry,
    RegistryError,
    RegistryUnreachable,
    load_auths,
    push_layout,
    registry_url,
)
from greenzone.errors import EnvironmentProblem
from greenzone.redact import REDACTOR
from greenzone.sync.mirror import CloudRegistry
from greenzone.sync.registry_checks import Held

log = logging.getLogger(__name__)
MANIFEST_TYPES = (*INDEX_TYPES, MANIFEST, DOCKER_MANIFEST)
CHART_LAYER = "application/vnd.cncf.helm.chart.content.v1.tar+gzip"


@dataclass(frozen=True)
class BundleChart:
    name: str
    version: str
    path: Path
    sha256: str


def bundle_charts(bundle: Path, manifest: Manifest) -> list[BundleChart]:
    hashes = {item.path: item.sha256 for item in manifest.files}
    charts = []
    for component in manifest.components:
        if component.kind == "chart":
            for relative in component.paths:
                charts.append(
                    BundleChart(component.name, component.version, bundle / relative, hashes.get(relative, ""))
                )
    return charts


def cloud_client(target_registry: CloudRegistry, credentials_file: Path | None, ca_file: Path | None) -> Registry:
    """https, except plain http for a registry on loopback that names no CA (a test or a tunnel)."""
    auths = load_auths(credentials_file) if credentials_file else {}
    url = registry_url(target_registry.host)
    if ca_file is not None and url.startswith("http://"):
        url = "https://" + url.removeprefix("http://")
    return Registry(url, credentials=auths.get(target_registry.host), ca_file=ca_file)


def chart_layer(registry: Registry, repository: str, version: str) -> str:
    """The layer digest of a chart in the registry, '' when that version is absent."""
    if not registry.has_manifest(repository, version):
        return ""
    _, body = registry.get_manifest(repository, version)
    layers = json.loads(body).get("layers") or []
    return next((str(layer["digest"]) for layer in layers if layer.get("mediaType") == CHART_LAYER), "")


def chart_held(registry: Registry, target: CloudRegistry, chart: BundleChart) -> Held:
    name = f"chart {chart.name} {chart.version}"
    expected = f"sha256:{chart.sha256}"
    try:
        layer = chart_layer(registry, target.chart_repository(chart.name), chart.version)
    except RegistryUnreachable:
        raise
    except RegistryError as error:
        return Held(name, expected, error=error.title)
    return Held(name, expected, tag_digest=layer, has_expected=layer == expected)


def image_held(registry: Registry, target: CloudRegistry, ref: str, digest: str) -> Held:
    repository, tag = target.repository(ref)
    try:
        tag_digest = registry.manifest_digest(repository, tag)
        has = tag_digest == digest or registry.has_manifest(repository, digest)
    except RegistryUnreachable:
        raise
    except RegistryError as error:
        return Held(ref, digest, error=error.title)
    return Held(ref, digest, tag_digest=tag_digest, has_expected=has)


@dataclass
class ChartPush:
    pushed: list[str] = field(default_factory=list)
    present: list[str] = field(default_factory=list)


def push_charts(
    charts: list[BundleChart],
    registry: Registry,
    target: CloudRegistry,
    *,
    helm: Path,
    credentials_file: Path | None,
    ca_file: Path | None,
) -> ChartPush:
    """`helm push` each chart the registry lacks, same name and version; a tag that holds a different
    archive is pushed over (the bundle is the source of truth)."""
    outcome = ChartPush()
    for chart in charts:
        label = f"{chart.name} {chart.version}"
        if chart_held(registry, target, chart).has_expected:
            outcome.present.append(label)
        else:
            command = [str(helm), "push", str(chart.path), target.chart_oci()]
            if registry.base.startswith("http://"):
                command.append("--plain-http")
            if ca_file:
                command += ["--ca-file", str(ca_file)]
            if credentials_file:
                command += ["--registry-config", str(credentials_file)]
            try:
                result = subprocess.run(
                    command, capture_output=True, text=True, check=False, timeout=peers.HELM_REGISTRY
                )
            except subprocess.TimeoutExpired:
                raise peers.silent(
                    f"registry {registry.base}",
                    peers.HELM_REGISTRY,
                    f"helm push of chart {label}",
                    "the registry accepted the connection but does not finish the upload; check its logs and disk",
                ) from None
            if result.returncode != 0:
                raise EnvironmentProblem(
                    f"helm push of chart {label} to {target.chart_oci()} failed: "
                    + REDACTOR.redact(result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "no output"),
                    hint="check the registry credentials file and that the user may push to that path",
                )
            held = chart_held(registry, target, chart)
            if not held.has_expected:
                serves = held.error or f"it serves layer {held.tag_digest or 'none'}, the bundle has {held.expected}"
                raise EnvironmentProblem(
                    f"the registry does not serve chart {label} as the bundle holds it after helm pushed it: {serves}",
                    hint="use a registry that stores OCI artifacts unchanged (ECR, Artifact Registry, Harbor 2)",
                )
            outcome.pushed.append(label)
    return outcome


def push_images(
    bundle: Path, registry: Registry, target: CloudRegistry, *, progress: Callable[[int], None] | None = None
) -> PushStats:
    stats = push_layout(Layout(bundle / "images"), registry, target.repository, progress=progress)
    log.info("cloud push: %s", stats)
    return stats


def layout_bytes(bundle: Path) -> int:
    """What the push's progress counts: each image's blobs (not its manifests), once per image."""
    layout = Layout(bundle / "images")
    total = 0
    for image in layout.index():
        if image.ref is None:
            continue
        blobs = {d.digest: d.size for d in layout.walk(image) if d.media_type not in MANIFEST_TYPES}
        total += sum(blobs.values())
    return total

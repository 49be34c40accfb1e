"""Each release of the appliance rendered from the bundle's own chart archives, for one side.

The on-prem side is the answers' values as installed; the cloud side is the same values with the
target's overlay merged over them, and every image rewritten to the cloud registry by digest. Both
go through the real `helm template`, so nothing here guesses what a chart would produce.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from greenzone.answers.model import Answers
from greenzone.bundle.manifest import Manifest
from greenzone.cluster.helm import render
from greenzone.errors import InputError
from greenzone.refs import qualify
from greenzone.sync.mirror import CloudRegistry, rewrite_images
from greenzone.sync.push import BundleChart, bundle_charts
from greenzone.sync.views import ReleaseView, SideView, containers_of, pinned_or
from greenzone.values.releases import Release, appliance_releases, merge


@dataclass(frozen=True)
class Rendered:
    release: Release
    """With the values this side installs (overlay merged for the cloud)."""
    chart: BundleChart
    objects: list[dict[str, Any]]
    missing: tuple[str, ...] = ()
    """Images the objects run that the bundle does not hold."""


def bundle_digests(manifest: Manifest) -> dict[str, str]:
    return {qualify(image.ref): image.digest for image in manifest.images}


def render_side(
    answers: Answers,
    bundle: Path,
    manifest: Manifest,
    *,
    overlay: Mapping[str, Mapping[str, Any]] | None = None,
    registry: CloudRegistry | None = None,
    helm: Path | None = None,
    include_crds: bool = False,
) -> list[Rendered]:
    """On-prem without `registry`; the cloud copy with it (overlay merged, images rewritten)."""
    charts = {chart.name: chart for chart in bundle_charts(bundle, manifest)}
    digests = bundle_digests(manifest)
    out = []
    for release in appliance_releases(answers):
        chart = charts.get(release.chart)
        if chart is None:
            raise InputError(
                f"the bundle {bundle} has no chart {release.chart} for release {release.name}",
                hint="sync from the bundle the appliance was installed from (`greenzone bundle inspect` lists its charts)",
            )
        if overlay is not None:
            release = replace(release, values=merge(release.values, overlay.get(release.name) or {}))
        objects = render(
            chart.path, release.name, release.namespace, release.values, helm=helm, include_crds=include_crds
        )
        if registry is None:
            out.append(Rendered(release, chart, objects))
        else:
            rewritten = rewrite_images(objects, registry, digests)
            out.append(Rendered(release, chart, rewritten.objects, rewritten.missing))
    return out


def side_view(
    label: str, source: str, rendered: list[Rendered], manifest: Manifest, registry: CloudRegistry | None
) -> SideView:
    upstream = registry.upstream if registry else qualify
    digest_of = pinned_or(bundle_digests(manifest))
    return SideView(
        label,
        source,
        {
            item.release.name: ReleaseView(
                item.release.name,
                item.release.namespace,
                item.chart.name,
                item.chart.version,
                item.release.values,
                containers_of(item.objects, item.release.namespace, upstream, digest_of),
            )
            for item in rendered
        },
    )

"""`greenzone sync --render-only DIR`: the cloud copy as plain manifests for a GitOps tool, and
reading them back as parity's cloud side when the cloud cluster is out of reach.

One directory per release (`DIR/<release>/manifests.yaml` and the `values.yaml` it was rendered
with), which is what an ArgoCD Application with `source.path: <release>` or a Flux Kustomization
reads, plus `DIR/releases.yaml`, the index that records chart name, version and archive digest. Files
are replaced atomically and only when their content changes, so a second run changes nothing and a
Git diff shows exactly what a new bundle changes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from greenzone import yamlpos
from greenzone.atomic import write_text_if_changed
from greenzone.errors import InputError
from greenzone.images import images_of
from greenzone.sync.mirror import CloudRegistry
from greenzone.sync.render import Rendered
from greenzone.sync.views import ReleaseView, SideView, containers_of, pinned_or

INDEX = "releases.yaml"
INDEX_VERSION = 1


def _dump_all(objects: list[dict[str, Any]]) -> str:
    return yaml.safe_dump_all(objects, sort_keys=False, width=120) if objects else ""


def write_rendered(directory: Path, rendered: list[Rendered], registry: CloudRegistry) -> list[str]:
    """Writes every release and the index; returns the files that changed (relative to `directory`)."""
    changed = []
    entries = []
    for item in rendered:
        release = item.release
        base = directory / release.name
        files = {
            base / "manifests.yaml": _dump_all(item.objects),
            base / "values.yaml": yaml.safe_dump(release.values, sort_keys=False, width=120),
        }
        for path, text in files.items():
            if write_text_if_changed(path, text):
                changed.append(path.relative_to(directory).as_posix())
        entries.append(
            {
                "name": release.name,
                "namespace": release.namespace,
                "chart": item.chart.name,
                "version": item.chart.version,
                "chart_sha256": item.chart.sha256,
                "chart_oci": f"{registry.chart_oci()}/{item.chart.name}:{item.chart.version}",
                "images": images_of(item.objects),
            }
        )
    index = {
        "version": INDEX_VERSION,
        "registry": f"{registry.host}/{registry.prefix}".rstrip("/"),
        "releases": entries,
    }
    header = (
        "# Written by `greenzone sync --render-only`; the cloud copy of one appliance, one directory per release.\n"
    )
    if write_text_if_changed(directory / INDEX, header + yaml.safe_dump(index, sort_keys=False, width=120)):
        changed.append(INDEX)
    return changed


def read_rendered(directory: Path) -> SideView:
    """The cloud side from a directory `write_rendered` wrote (perhaps in a Git checkout)."""
    index_path = directory / INDEX
    try:
        index = yamlpos.data(index_path.read_text(encoding="utf-8"), str(index_path))
        registry = CloudRegistry.parse(str(index["registry"]))
        releases = {}
        for entry in index["releases"]:
            name, namespace = str(entry["name"]), str(entry["namespace"])
            manifests = directory / name / "manifests.yaml"
            documents, problems = yamlpos.load_documents(manifests.read_text(encoding="utf-8"))
            if problems:
                raise yamlpos.YamlRefused(str(manifests), problems[0])
            objects = [obj for obj in documents if isinstance(obj, dict) and obj]
            if len(objects) != len([obj for obj in documents if obj]):
                raise ValueError(f"{manifests} holds a document that is not a Kubernetes object (a mapping)")
            values_path = directory / name / "values.yaml"
            values = yamlpos.data(values_path.read_text(encoding="utf-8"), str(values_path)) or {}
            releases[name] = ReleaseView(
                name,
                namespace,
                str(entry["chart"]),
                str(entry["version"]),
                values,
                containers_of(objects, namespace, registry.upstream, pinned_or({})),
            )
    except (OSError, UnicodeDecodeError, yaml.YAMLError, ValueError, KeyError, TypeError, AttributeError) as error:
        what = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise InputError(
            f"cannot read the rendered cloud copy in {directory}: {what}",
            hint="point --cloud-rendered at the directory `greenzone sync --render-only DIR` wrote",
        ) from None
    return SideView("cloud", f"rendered manifests in {directory}", releases)

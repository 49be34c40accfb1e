"""Installing the cloud copy: each release as exactly the manifests `--render-only` writes, under
Helm's management in the cloud context.

pyhelm3 has no post-renderer, and Helm 4 turned post-renderers into plugins, so the image rewrite
cannot ride on a plain `helm upgrade` of the upstream chart. Instead each release is installed from
a chart built on the fly that keeps the upstream chart's name, version and CRDs and whose one
template emits the rendered manifests verbatim; the merged values are passed along so Helm records
them (`helm get values`, parity's live view) although the template does not read them. Hooks keep
their annotations and run as Helm hooks. `helm list` in the cloud therefore shows the same charts and
versions as on site.
"""

from __future__ import annotations

import hashlib
import tarfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from greenzone import yamlpos
from greenzone.atomic import write_text_atomic
from greenzone.cluster.helm import deployed, run_bounded
from greenzone.cluster.kube import api_server
from greenzone.deploy.workloads import release_action
from greenzone.sync.render import Rendered

MANIFESTS = "rendered.yaml"
RENDERED_ANNOTATION = "greenzone.io/rendered-sha256"


def chart_metadata(archive: Path) -> dict[str, Any]:
    with tarfile.open(archive) as tar:
        member = next(m for m in tar.getmembers() if m.name.count("/") == 1 and m.name.endswith("/Chart.yaml"))
        handle = tar.extractfile(member)
        assert handle is not None
        metadata: dict[str, Any] = yamlpos.data(handle.read().decode("utf-8"), f"{archive}:{member.name}")
    return metadata


def build_rendered_chart(item: Rendered, workdir: Path) -> tuple[Path, str]:
    """A chart directory whose template is the rendered objects; returns it and the manifests' sha256."""
    metadata = chart_metadata(item.chart.path)
    metadata.pop("dependencies", None)  # rendered already, subcharts included
    text = yaml.safe_dump_all(
        [obj for obj in item.objects if obj.get("kind") != "CustomResourceDefinition"], sort_keys=False
    )
    crds = [obj for obj in item.objects if obj.get("kind") == "CustomResourceDefinition"]
    digest = hashlib.sha256(text.encode()).hexdigest()
    metadata.setdefault("annotations", {})[RENDERED_ANNOTATION] = digest
    chart = workdir / item.release.name
    write_text_atomic(chart / "Chart.yaml", yaml.safe_dump(metadata, sort_keys=False))
    write_text_atomic(chart / MANIFESTS, text)
    write_text_atomic(chart / "templates" / "rendered.yaml", f'{{{{ .Files.Get "{MANIFESTS}" }}}}\n')
    if crds:
        write_text_atomic(chart / "crds" / "crds.yaml", yaml.safe_dump_all(crds, sort_keys=False))
    return chart, digest


@dataclass(frozen=True)
class Installed:
    release: str
    action: str
    reason: str


async def _install(
    helm: Path, kubeconfig: Path, context: str, item: Rendered, chart_dir: Path, digest: str, timeout: str
) -> Installed:
    from pyhelm3 import Client

    client = Client(executable=str(helm), kubeconfig=kubeconfig, kubecontext=context)
    chart = await client.get_chart(chart_dir)
    release = item.release
    current, metadata = await deployed(client, release.name, release.namespace)
    same_manifests = metadata is not None and (metadata.annotations or {}).get(RENDERED_ANNOTATION) == digest
    action, why = release_action(current, str(chart.metadata.version), dict(release.values))
    if action == "none" and not same_manifests:
        action, why = "upgrade", "the rendered manifests changed (images or chart content)"
    if action != "none":
        await client.install_or_upgrade_release(
            release.name,
            chart,
            dict(release.values),
            namespace=release.namespace,
            atomic=True,
            wait=True,
            timeout=timeout,
        )
    return Installed(release.name, action, why)


def install_rendered(
    helm: Path, kubeconfig: Path, context: str, item: Rendered, workdir: Path, timeout: str = "10m"
) -> Installed:
    chart_dir, digest = build_rendered_chart(item, workdir)
    return run_bounded(
        _install(helm, kubeconfig, context, item, chart_dir, digest, timeout),
        timeout,
        f"the cloud Kubernetes API at {api_server(kubeconfig, context)}",
        f"helm install of {item.release.name}",
    )

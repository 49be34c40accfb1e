"""A signed test bundle whose every chart renders, and the answers and target that point at it.

Our two charts are packaged by the real helm. The three third-party charts cannot be downloaded
here, so each is a real chart made by `helm create` under the upstream name and version, its image
set to an upstream-looking reference. The OCI layout holds exactly the images the rendered releases
run (found by rendering them with the answers' values through the real helm), small random layers
on one shared base layer, like CUDA images sharing their runtime layers.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import yaml
from tests.support.charts import CHARTS, helm_path, our_chart
from tests.support.deploy import public_key, sign_bundle

from greenzone.answers.files import load_valid_answers
from greenzone.bundle.manifest import BundleImage, BundleModel, Component
from greenzone.bundle.oci import Layout, add_image
from greenzone.bundle.seal import seal
from greenzone.cluster.helm import render
from greenzone.images import images_of
from greenzone.sync.mirror import CloudRegistry, rewrite_images
from greenzone.sync.views import ReleaseView, SideView, containers_of, pinned_or
from greenzone.values.gpu_operator import CHART_VERSION as GPU_OPERATOR
from greenzone.values.harbor import CHART_VERSION as HARBOR
from greenzone.values.monitoring import CHART_VERSION as MONITORING
from greenzone.values.releases import Release, appliance_releases

STAND_INS = {
    "gpu-operator": (GPU_OPERATOR, "nvcr.io/nvidia/gpu-operator", "v25.10.1"),
    "harbor": (HARBOR, "docker.io/goharbor/harbor-core", "v2.15.1"),
    "kube-prometheus-stack": (MONITORING, "quay.io/prometheus/prometheus", "v3.7.3"),
}
BASE_LAYER = os.urandom(8192)

OVERLAY = {
    "greenzone-inference": {
        "modelStore": {"type": "pvc", "pvc": {"storageClassName": "gp3"}, "bundleClaim": "greenzone-bundle-models"},
        "gpu": {"nodeSelector": {"node.kubernetes.io/instance-type": "g5.xlarge"}},
        "chatUi": {"persistence": {"storageClassName": "gp3"}},
    }
}


def _run(*args: str) -> None:
    subprocess.run([str(helm_path()), *args], check=True, capture_output=True)


def _stand_in_chart(work: Path, name: str, version: str, repository: str, tag: str) -> Path:
    _run("create", str(work / name))
    chart = yaml.safe_load((work / name / "Chart.yaml").read_text())
    chart.update(version=version.removeprefix("v"), appVersion=tag)
    (work / name / "Chart.yaml").write_text(yaml.safe_dump(chart))
    values = yaml.safe_load((work / name / "values.yaml").read_text())
    values["image"].update(repository=repository, tag=tag)
    (work / name / "values.yaml").write_text(yaml.safe_dump(values))
    return work / name


def answers_document(bundle: Path) -> dict[str, Any]:
    return {
        "version": 1,
        "appliance": {"name": "test-appliance"},
        "network": {"hostname": "ai.test.internal"},
        "bundle": {"path": str(bundle), "public_key": str(public_key(bundle))},
        "inference": {"engine": "ollama", "models": ["gemma3:4b"]},
    }


def make_sync_bundle(out: Path) -> Path:
    """The bundle, plus `answers.yaml` beside it; returns the answers file."""
    work = out.parent / f"{out.name}-charts"
    work.mkdir(parents=True)
    (out / "charts").mkdir(parents=True)
    components = []
    for chart in ("greenzone-inference", "greenzone-guardrails"):
        _run("package", str(CHARTS / chart), "--destination", str(out / "charts"))
        version, archive = our_chart(chart)
        components.append(Component(name=chart, version=version, kind="chart", paths=[archive]))
    for name, (version, repository, tag) in STAND_INS.items():
        _run(
            "package", str(_stand_in_chart(work, name, version, repository, tag)), "--destination", str(out / "charts")
        )
        archive = f"charts/{name}-{version.removeprefix('v')}.tgz"
        components.append(Component(name=name, version=version.removeprefix("v"), kind="chart", paths=[archive]))
    answers_file = out.parent / "answers.yaml"
    answers_file.write_text(yaml.safe_dump(answers_document(out), sort_keys=False))
    # Answers validation reads the bundle's models; the real manifest is sealed once the images exist.
    (out / "bundle.yaml").write_text(
        "format_version: 1\nproduct_version: test\n"
        "models: [{name: 'gemma3:4b', engine: ollama, size_bytes: 1024, vram_bytes: 4294967296}]\n"
    )
    answers = load_valid_answers(answers_file)
    charts = {component.name: out / component.paths[0] for component in components}
    refs: set[str] = set()
    for release in appliance_releases(answers):
        refs.update(images_of(render(charts[release.chart], release.name, release.namespace, release.values)))
    layout = Layout(out / "images")
    layout.init()
    images = []
    for index, ref in enumerate(sorted(refs)):
        descriptor = add_image(layout, ref, [BASE_LAYER, os.urandom(2048) + bytes([index])])
        images.append(BundleImage(ref=ref, digest=descriptor.digest))
    components.append(Component(name="images", version=str(len(images)), kind="image", paths=["images"]))
    (out / "bundle.yaml").unlink()
    seal(
        out,
        components=components,
        images=images,
        models=[BundleModel(name="gemma3:4b", engine="ollama", size_bytes=1024, vram_bytes=4 * 2**30)],
        jobs=1,
    )
    sign_bundle(out)
    return answers_file


def write_target(path: Path, registry: str, *, overlay: dict[str, Any] | None = None, **extra: Any) -> Path:
    """A standalone target file (and its overlay file beside it)."""
    document: dict[str, Any] = {
        "kubeconfig": str(path.parent / "cloud-kubeconfig"),
        "context": "cloud",
        "registry": registry,
    }
    if overlay is not None:
        overlay_file = path.with_name(path.stem + "-overlay.yaml")
        overlay_file.write_text(yaml.safe_dump(overlay, sort_keys=False))
        document["values_overlay"] = overlay_file.name
    document.update(extra)
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


def cloud_side(
    release: Release,
    objects: list[dict[str, Any]],
    registry: CloudRegistry,
    digests: dict[str, str],
    *,
    version: str = "0.1.0",
) -> SideView:
    """The cloud copy of one release of our inference chart as sync renders it: images rewritten to
    `registry` by digest, read back to upstream references; `release.values` as installed."""
    rewritten = rewrite_images(objects, registry, digests)
    assert rewritten.missing == ()
    view = ReleaseView(
        release.name,
        release.namespace,
        "greenzone-inference",
        version,
        release.values,
        containers_of(rewritten.objects, release.namespace, registry.upstream, pinned_or({})),
    )
    return SideView("cloud", "rendered", {release.name: view})

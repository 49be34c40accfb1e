"""Parity's live view through the real Kubernetes client, against a small HTTP server that stands in
for the API server (no cluster can run here). It serves Helm's release Secrets in Helm's storage
encoding (base64 of gzipped JSON, inside the Secret's own base64) holding the real `helm template`
output of our inference chart, and pods whose `imageID` says which digest the kubelet pulled.

Also here: the chart `sync` installs in the cloud (the upstream chart's name and version, the
rendered manifests as its one template) is proven with the real `helm lint` and `helm template`.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from greenzone.answers.files import load_valid_answers
from greenzone.cluster.helm import render
from greenzone.errors import EnvironmentProblem
from greenzone.images import images_of
from greenzone.refs import qualify
from greenzone.results import Status
from greenzone.sync.install import build_rendered_chart
from greenzone.sync.live import decode_release, encode_release, read_live
from greenzone.sync.mirror import CloudRegistry, rewrite_images
from greenzone.sync.parity import compare
from greenzone.sync.push import BundleChart
from greenzone.sync.render import Rendered
from greenzone.sync.views import SideView, is_hook
from greenzone.values.releases import Release, appliance_releases
from tests.support.charts import CHARTS, helm_path, our_chart
from tests.support.health import write_kubeconfig
from tests.support.health_standins import closed_port, kube_api, serve
from tests.support.paths import EXAMPLES
from tests.support.sync import cloud_side

CLOUD = CloudRegistry.parse("registry.example.com:5000/gz")


@pytest.fixture(scope="module")
def inference() -> tuple[Release, list[dict[str, Any]], dict[str, str]]:
    answers = load_valid_answers(EXAMPLES / "single-node-ollama.yaml")
    release = next(r for r in appliance_releases(answers) if r.name == "greenzone-inference")
    objects = render(CHARTS / "greenzone-inference", release.name, release.namespace, release.values)
    digests = {ref: "sha256:" + f"{n:064x}" for n, ref in enumerate(images_of(objects), start=1)}
    return release, objects, digests


def _secret(release: Release, objects: list[dict[str, Any]]) -> dict[str, Any]:
    record = {
        "name": release.name,
        "namespace": release.namespace,
        "version": 1,
        "info": {"status": "deployed"},
        "chart": {"metadata": {"name": "greenzone-inference", "version": "0.1.0"}},
        "config": release.values,
        "manifest": yaml.safe_dump_all([obj for obj in objects if not is_hook(obj)]),
        "hooks": [
            {"name": obj["metadata"]["name"], "manifest": yaml.safe_dump(obj)} for obj in objects if is_hook(obj)
        ],
    }
    return {
        "metadata": {
            "name": f"sh.helm.release.v1.{release.name}.v1",
            "namespace": release.namespace,
            "labels": {"owner": "helm", "status": "deployed", "name": release.name},
        },
        "type": "helm.sh/release.v1",
        "data": {"release": encode_release(record)},
    }


def _pods(objects: list[dict[str, Any]], namespace: str, digest_of: dict[str, str]) -> list[dict[str, Any]]:
    pods = []
    for obj in objects:
        if obj["kind"] not in ("Deployment", "StatefulSet"):
            continue
        spec = obj["spec"]["template"]["spec"]
        containers = [*spec.get("initContainers", []), *spec["containers"]]
        pods.append(
            {
                "metadata": {"name": f"{obj['metadata']['name']}-0", "namespace": namespace},
                "status": {
                    "containerStatuses": [
                        {
                            "name": c["name"],
                            "image": c["image"],
                            "imageID": f"{qualify(c['image']).rpartition(':')[0]}@{digest_of[qualify(c['image'])]}",
                        }
                        for c in containers
                    ]
                },
            }
        )
    return pods


def _cloud(release: Release, objects: list[dict[str, Any]], digests: dict[str, str]) -> SideView:
    return cloud_side(release, objects, CLOUD, digests)


def _api(tmp_path: Path, secret: dict[str, Any], pods: list[dict[str, Any]]) -> Any:
    routes = {
        "/api/v1/secrets": {"kind": "SecretList", "apiVersion": "v1", "items": [secret]},
        "/api/v1/pods": {"kind": "PodList", "apiVersion": "v1", "items": pods},
    }
    return serve(kube_api(routes))


def test_live_side_matches_the_cloud_render(tmp_path: Path, inference: Any) -> None:
    release, objects, digests = inference
    with _api(tmp_path, _secret(release, objects), _pods(objects, release.namespace, digests)) as api:
        write_kubeconfig(tmp_path, api)
        live = read_live("on-prem", tmp_path / "kubeconfig", "gz", qualify)
    view = live.releases[release.name]
    assert (view.chart, view.version) == ("greenzone-inference", "0.1.0")
    assert view.values == release.values
    assert view.containers and all(item.digest for item in view.containers)
    assert not any("test" in item.workload for item in view.containers)  # the helm test hook is no workload
    checks, _ = compare(live, _cloud(release, objects, digests), {})
    assert [c.status for c in checks] == [Status.PASS] * 3, checks


def test_a_pod_running_another_digest_is_image_drift(tmp_path: Path, inference: Any) -> None:
    release, objects, digests = inference
    engine = next(ref for ref in digests if "ollama/ollama" in ref)
    pulled = {**digests, engine: "sha256:" + "e" * 64}
    with _api(tmp_path, _secret(release, objects), _pods(objects, release.namespace, pulled)) as api:
        write_kubeconfig(tmp_path, api)
        live = read_live("on-prem", tmp_path / "kubeconfig", "gz", qualify)
    checks, data = compare(live, _cloud(release, objects, digests), {})
    images = next(c for c in checks if c.group == "images")
    assert images.status is Status.FAIL
    assert {row["on_prem"] for row in data["releases"][release.name]["image_differences"]} == {"sha256:" + "e" * 64}


def test_an_unreachable_cluster_is_an_environment_problem(tmp_path: Path) -> None:
    server = closed_port()
    write_kubeconfig(tmp_path, server)
    with pytest.raises(
        EnvironmentProblem, match=rf"cannot reach the cloud Kubernetes API at {re.escape(server)}.*refused"
    ):
        read_live("cloud", tmp_path / "kubeconfig", "gz", qualify)


def test_helm_storage_encoding_round_trips() -> None:
    record = {"name": "r", "chart": {"metadata": {"version": "1"}}, "config": {"a": [1, 2]}}
    assert decode_release(encode_release(record)) == record


def test_the_installed_chart_renders_back_to_exactly_the_rewritten_manifests(tmp_path: Path, inference: Any) -> None:
    release, objects, digests = inference
    rewritten = rewrite_images(objects, CLOUD, digests).objects
    chart_archive = subprocess.run(
        [str(helm_path()), "package", str(CHARTS / "greenzone-inference"), "--destination", str(tmp_path)],
        check=True,
        capture_output=True,
        text=True,
    )
    version, packaged = our_chart("greenzone-inference")
    archive = tmp_path / Path(packaged).name
    assert archive.is_file(), chart_archive.stdout
    item = Rendered(release, BundleChart("greenzone-inference", version, archive, ""), rewritten)
    chart_dir, digest = build_rendered_chart(item, tmp_path / "work")
    metadata = yaml.safe_load((chart_dir / "Chart.yaml").read_text())
    assert (metadata["name"], metadata["version"]) == ("greenzone-inference", version)
    assert metadata["annotations"]["greenzone.io/rendered-sha256"] == digest
    lint = subprocess.run([str(helm_path()), "lint", str(chart_dir)], capture_output=True, text=True, check=False)
    assert lint.returncode == 0, lint.stdout + lint.stderr
    back = render(chart_dir, release.name, release.namespace, release.values)
    assert back == rewritten

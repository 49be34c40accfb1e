"""The parity diff on real `helm template` output of our inference chart: identical sides, version
drift, image drift, value drift, and differences the overlay declares (which must not count).

The on-prem side is the chart rendered with an appliance's values and its tags resolved through a
bundle-like digest table; the cloud side is the same chart rendered with the overlay merged and its
images rewritten to a cloud registry by digest, exactly what `greenzone sync` installs.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from greenzone.answers.files import load_valid_answers
from greenzone.cluster.helm import render
from greenzone.images import images_of
from greenzone.refs import qualify
from greenzone.results import Status
from greenzone.sync.mirror import CloudRegistry, host_path_workloads, rewrite_images
from greenzone.sync.parity import compare, compare_values, overlay_paths, without
from greenzone.sync.views import ReleaseView, SideView, containers_of, pinned_or
from greenzone.values.releases import Release, appliance_releases, merge
from tests.support.charts import CHARTS
from tests.support.paths import EXAMPLES
from tests.support.sync import OVERLAY, cloud_side

CLOUD = CloudRegistry.parse("123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenzone")


def _digest(n: int) -> str:
    return "sha256:" + f"{n:x}".rjust(64, "0")


@pytest.fixture(scope="module")
def inference() -> Release:
    answers = load_valid_answers(EXAMPLES / "single-node-ollama.yaml")
    return next(r for r in appliance_releases(answers) if r.name == "greenzone-inference")


@pytest.fixture(scope="module")
def onprem_objects(inference: Release) -> list[dict[str, Any]]:
    return render(CHARTS / "greenzone-inference", inference.name, inference.namespace, inference.values)


@pytest.fixture(scope="module")
def digests(onprem_objects: list[dict[str, Any]]) -> dict[str, str]:
    return {ref: _digest(index + 1) for index, ref in enumerate(images_of(onprem_objects))}


def _onprem(release: Release, objects: list[dict[str, Any]], digests: dict[str, str]) -> SideView:
    view = ReleaseView(
        release.name,
        release.namespace,
        "greenzone-inference",
        "0.1.0",
        release.values,
        containers_of(objects, release.namespace, qualify, pinned_or(digests)),
    )
    return SideView("on-prem", "rendered", {release.name: view})


def _cloud(release: Release, digests: dict[str, str], overlay: dict[str, Any], *, version: str = "0.1.0") -> SideView:
    values = merge(release.values, overlay)
    objects = render(CHARTS / "greenzone-inference", release.name, release.namespace, values)
    return cloud_side(dataclasses.replace(release, values=values), objects, CLOUD, digests, version=version)


def _by_group(checks: list[Any]) -> dict[str, Any]:
    return {check.group: check for check in checks}


def test_identical_sides_pass(
    inference: Release, onprem_objects: list[dict[str, Any]], digests: dict[str, str]
) -> None:
    checks, data = compare(_onprem(inference, onprem_objects, digests), _cloud(inference, digests, {}), {})
    assert [c.status for c in checks] == [Status.PASS] * 3, checks
    containers = len(_onprem(inference, onprem_objects, digests).releases[inference.name].containers)
    assert containers >= 3  # the engine, the chat UI and the seed init container at least
    assert f"{containers} containers run the same digests" in _by_group(checks)["images"].detail
    assert data["releases"][inference.name]["value_differences"] == []


def test_version_drift_fails(inference: Release, onprem_objects: list[dict[str, Any]], digests: dict[str, str]) -> None:
    checks, _ = compare(
        _onprem(inference, onprem_objects, digests), _cloud(inference, digests, {}, version="0.2.0"), {}
    )
    chart = _by_group(checks)["charts"]
    assert chart.status is Status.FAIL
    assert "on-prem runs greenzone-inference 0.1.0, cloud runs greenzone-inference 0.2.0" in chart.detail


def test_image_drift_fails_and_names_the_container(
    inference: Release, onprem_objects: list[dict[str, Any]], digests: dict[str, str]
) -> None:
    engine = next(ref for ref in digests if "ollama/ollama" in ref)
    drifted = {**digests, engine: _digest(999)}
    checks, data = compare(_onprem(inference, onprem_objects, digests), _cloud(inference, drifted, {}), {})
    images = _by_group(checks)["images"]
    assert images.status is Status.FAIL
    rows = data["releases"][inference.name]["image_differences"]
    assert rows and all(row["cloud"] == _digest(999) and row["problem"] == "different digest" for row in rows)
    assert any(row["container"].startswith("Deployment/greenzone-inference/") for row in rows)
    assert _by_group(checks)["values"].status is Status.PASS


def test_value_drift_fails_with_the_key(
    inference: Release, onprem_objects: list[dict[str, Any]], digests: dict[str, str]
) -> None:
    checks, data = compare(_onprem(inference, onprem_objects, digests), _cloud(inference, digests, {"replicas": 3}), {})
    values = _by_group(checks)["values"]
    assert values.status is Status.FAIL
    assert "replicas: on-prem 1, cloud 3" in values.detail
    assert data["releases"][inference.name]["value_differences"] == [{"key": "replicas", "on_prem": "1", "cloud": "3"}]


def test_overlay_only_differences_do_not_count(
    inference: Release, onprem_objects: list[dict[str, Any]], digests: dict[str, str]
) -> None:
    overlay = OVERLAY["greenzone-inference"]
    cloud = _cloud(inference, digests, overlay)
    onprem = _onprem(inference, onprem_objects, digests)
    declared, _ = compare(onprem, cloud, {inference.name: overlay})
    assert [c.status for c in declared] == [Status.PASS] * 3, declared
    assert "differ as the overlay declares" in _by_group(declared)["values"].detail
    # The same two sides without the overlay declared: the differences are drift.
    undeclared, _ = compare(onprem, cloud, {})
    assert _by_group(undeclared)["values"].status is Status.FAIL
    assert "modelStore.type: on-prem 'hostPath', cloud 'pvc'" in _by_group(undeclared)["values"].detail
    # The overlay swapped hostPath for volumes, so the cloud render mounts no node directory.
    values = merge(inference.values, overlay)
    assert (
        host_path_workloads(render(CHARTS / "greenzone-inference", inference.name, inference.namespace, values)) == []
    )
    assert host_path_workloads(onprem_objects) != []


def test_overlay_does_not_hide_drift_beside_it(
    inference: Release, onprem_objects: list[dict[str, Any]], digests: dict[str, str]
) -> None:
    overlay = OVERLAY["greenzone-inference"]
    drifted = merge(overlay, {"gpu": {"count": 2}})  # `gpu.nodeSelector` is declared, `gpu.count` is not
    checks, _ = compare(
        _onprem(inference, onprem_objects, digests), _cloud(inference, digests, drifted), {inference.name: overlay}
    )
    values = _by_group(checks)["values"]
    assert values.status is Status.FAIL and "gpu.count: on-prem 1, cloud 2" in values.detail


def test_a_release_missing_on_one_side_fails(
    inference: Release, onprem_objects: list[dict[str, Any]], digests: dict[str, str]
) -> None:
    checks, _ = compare(_onprem(inference, onprem_objects, digests), SideView("cloud", "rendered", {}), {})
    assert len(checks) == 1 and checks[0].status is Status.FAIL
    assert "not installed on the cloud side" in checks[0].detail


def test_rewrite_pins_every_image_to_the_cloud_registry_by_digest(
    onprem_objects: list[dict[str, Any]], digests: dict[str, str]
) -> None:
    before = copy.deepcopy(onprem_objects)
    rewritten = rewrite_images(onprem_objects, CLOUD, digests)
    images = images_of(rewritten.objects)
    assert images and all(ref.startswith(f"{CLOUD.host}/greenzone/") and "@sha256:" in ref for ref in images)
    assert sorted(CLOUD.upstream(ref) for ref in images) == sorted(digests)
    assert onprem_objects == before  # the on-prem render is left as it was


def test_rewrite_reports_images_the_bundle_lacks(onprem_objects: list[dict[str, Any]], digests: dict[str, str]) -> None:
    engine = next(ref for ref in digests if "ollama/ollama" in ref)
    partial = {ref: digest for ref, digest in digests.items() if ref != engine}
    assert rewrite_images(onprem_objects, CLOUD, partial).missing == (engine,)


def test_rewrite_of_a_cluster_policy_keeps_the_driver_tag_and_pins_the_rest() -> None:
    """The ClusterPolicy's shape is the GPU operator's (v25.10); the driver's tag gets the node's OS
    appended by the operator, so it keeps its tag; every other component is pinned by digest."""
    policy = {
        "apiVersion": "nvidia.com/v1",
        "kind": "ClusterPolicy",
        "metadata": {"name": "cluster-policy"},
        "spec": {
            "operator": {"initContainer": {"repository": "nvcr.io/nvidia", "image": "cuda", "version": "13.0.1-base"}},
            "driver": {"enabled": True, "repository": "nvcr.io/nvidia", "image": "driver", "version": "580.95.05"},
            "toolkit": {"repository": "nvcr.io/nvidia/k8s", "image": "container-toolkit", "version": "v1.18.1"},
            "vgpuManager": {"enabled": False, "repository": "nvcr.io/nvidia", "image": "vgpu", "version": "1"},
        },
    }
    digests = {
        "nvcr.io/nvidia/cuda:13.0.1-base": _digest(1),
        "nvcr.io/nvidia/k8s/container-toolkit:v1.18.1": _digest(2),
    }
    rewritten = rewrite_images([policy], CLOUD, digests)
    spec = rewritten.objects[0]["spec"]
    assert rewritten.missing == ()  # the disabled vGPU manager is not required
    assert spec["toolkit"] == {
        "repository": f"{CLOUD.host}/greenzone/nvcr.io/nvidia/k8s",
        "image": "container-toolkit",
        "version": _digest(2),
    }
    assert spec["driver"]["version"] == "580.95.05"
    assert spec["driver"]["repository"] == f"{CLOUD.host}/greenzone/nvcr.io/nvidia"
    assert spec["operator"]["initContainer"]["version"] == _digest(1)
    assert all(ref.startswith(CLOUD.host) for ref in images_of(rewritten.objects))


# --- property: whatever the overlay sets, it never counts as drift ---------------------------------

_keys = st.sampled_from(["a", "b", "gpu", "nodeSelector", "storageClass", "x"])
_leaves = st.one_of(
    st.integers(-3, 3), st.text("ab", max_size=2), st.booleans(), st.none(), st.lists(st.integers(0, 2))
)
_trees = st.recursive(_leaves, lambda children: st.dictionaries(_keys, children, max_size=3), max_leaves=10)
_values = st.dictionaries(_keys, _trees, max_size=4)


@settings(max_examples=300, deadline=None)
@given(base=_values, overlay=_values)
def test_any_overlay_merged_over_any_values_is_not_drift(base: dict[str, Any], overlay: dict[str, Any]) -> None:
    onprem = ReleaseView("r", "ns", "c", "1", base)
    cloud = dataclasses.replace(onprem, values=merge(base, overlay))
    check, rows = compare_values(onprem, cloud, overlay)
    assert check.status is Status.PASS, (check.detail, rows)


@settings(max_examples=200, deadline=None)
@given(base=_values, overlay=_values, key=_keys, value=st.integers(10, 20))
def test_a_key_outside_the_overlay_is_drift(
    base: dict[str, Any], overlay: dict[str, Any], key: str, value: int
) -> None:
    declared = {tuple(path[:1]) for path in overlay_paths(overlay)}
    if (key,) in declared:
        return
    cloud_values = {**merge(base, overlay), key: value}
    check, _ = compare_values(
        ReleaseView("r", "ns", "c", "1", base), ReleaseView("r", "ns", "c", "1", cloud_values), overlay
    )
    assert check.status is Status.FAIL


def test_without_removes_paths_and_values_the_overlay_replaced() -> None:
    values = {"gpu": {"nodeSelector": {"k": "v"}, "count": 1}, "x": {"y": 1, "z": 2}, "s": "scalar"}
    paths = [("gpu", "nodeSelector", "k"), ("x", "y"), ("absent", "q"), ("s", "deeper")]
    assert without(values, paths) == {"gpu": {"nodeSelector": {}, "count": 1}, "x": {"z": 2}}


def test_the_example_overlay_names_real_keys_of_our_chart() -> None:
    """The shipped example must set keys the chart's schema knows; helm refuses unknown ones."""
    overlay = yaml.safe_load((EXAMPLES / "overlays" / "cloud.yaml").read_text())
    answers = load_valid_answers(EXAMPLES / "single-node-ollama.yaml")
    release = next(r for r in appliance_releases(answers) if r.name == "greenzone-inference")
    objects = render(
        CHARTS / "greenzone-inference",
        release.name,
        release.namespace,
        merge(release.values, overlay["greenzone-inference"]),
    )
    assert host_path_workloads(objects) == []
    claims = [
        volume["persistentVolumeClaim"]["claimName"]
        for obj in objects
        if obj["kind"] == "Deployment"
        for volume in obj["spec"]["template"]["spec"].get("volumes", [])
        if "persistentVolumeClaim" in volume
    ]
    assert "greenzone-bundle-models" in claims

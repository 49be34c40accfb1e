"""Chart values: `helm lint`, values.schema.json refusing bad values with a readable message (real
helm), the answers -> values functions, and the generated files under charts/values/ and images/
staying in step with the code that makes them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from greenzone.answers.files import load_valid_answers
from greenzone.images import images_of, judge
from greenzone.results import Status
from greenzone.values import secrets
from greenzone.values.releases import appliance_releases, merge, values_yaml
from tests.support.charts import CHARTS, LOCK, ROOT, answers, helm, pinned_refs, render_chart
from tests.support.cli import Run

EXAMPLES = {
    "single-node": ROOT / "examples/single-node-ollama.yaml",
    "multi-node": ROOT / "examples/multi-node-vllm.yaml",
}


@pytest.mark.parametrize("chart", ["greenzone-inference", "greenzone-guardrails"])
def test_helm_lint_strict_with_defaults_and_each_example(chart: str) -> None:
    lint = helm("lint", "--strict", str(CHARTS / chart))
    assert lint.returncode == 0, lint.stdout + lint.stderr
    for name in EXAMPLES:
        lint = helm(
            "lint", "--strict", str(CHARTS / chart), "--values", str(CHARTS / "values" / name / f"{chart}.yaml")
        )
        assert lint.returncode == 0, lint.stdout + lint.stderr
        assert "1 chart(s) linted, 0 chart(s) failed" in lint.stdout


BAD_INFERENCE: list[tuple[dict[str, Any], str]] = [
    ({"engine": "llamacpp"}, "at '/engine': value must be one of 'ollama', 'vllm'"),
    ({"engine": "vllm", "gpu": {"count": 0}}, "at '/gpu/count': minimum: got 0, want 1"),
    (
        {"images": {"ollama": {"repository": "docker.io/ollama/ollama", "tag": "latest"}}},
        "at '/images/ollama/tag': 'not' failed",
    ),
    ({"images": {"ollama": {"repository": "Docker.io/Ollama"}}}, "at '/images/ollama/repository'"),
    ({"models": []}, "at '/models': minItems: got 0, want 1"),
    ({"models": ["gemma3:4b", "gemma3:4b"]}, "at '/models': items at 0 and 1 are equal"),
    ({"replicas": 0}, "at '/replicas': minimum: got 0, want 1"),
    ({"modelStore": {"type": "nfs"}}, "at '/modelStore/type'"),
    ({"modelStore": {"bundlePath": "models"}}, "at '/modelStore/bundlePath'"),
    ({"resources": {"limits": {"memory": "lots"}}}, "at '/resources/limits/memory'"),
    ({"vllm": {"gpuMemoryUtilization": 1.5}}, "at '/vllm/gpuMemoryUtilization': maximum: got 1.5, want 1"),
    ({"images": {"pullPolicy": "Always"}}, "at '/images/pullPolicy'"),
    ({"ingress": {"host": "AI_HOST"}}, "at '/ingress/host'"),
    ({"gpus": 1}, "additional properties 'gpus' not allowed"),
]
BAD_GUARDRAILS: list[tuple[dict[str, Any], str]] = [
    ({"egress": {"mode": "open"}}, "at '/egress/mode'"),
    ({"egress": {"mode": "deny", "allowCidrs": ["10.0.0.0/8"]}}, "at '/egress/allowCidrs': maxItems: got 1, want 0"),
    ({"egress": {"mode": "allow-list", "allowCidrs": ["0.0.0.0/0"]}}, "at '/egress/allowCidrs/0': 'not' failed"),
    ({"egress": {"mode": "allow-list", "allowCidrs": ["10.0.0.0"]}}, "at '/egress/allowCidrs/0'"),
    ({"departments": [{"name": "Legal Dept", "gpuQuota": 1, "memoryQuota": "8Gi"}]}, "at '/departments/0/name'"),
    ({"departments": [{"name": "legal", "gpuQuota": -1, "memoryQuota": "8Gi"}]}, "at '/departments/0/gpuQuota'"),
    ({"departments": [{"name": "legal", "gpuQuota": 1, "memoryQuota": "8 GB"}]}, "at '/departments/0/memoryQuota'"),
    ({"departments": [{"name": "legal"}]}, "at '/departments/0': missing properties 'gpuQuota', 'memoryQuota'"),
    ({"dashboards": {"currency": "dollars"}}, "at '/dashboards/currency'"),
    ({"podSecurity": "none"}, "at '/podSecurity'"),
]


@pytest.mark.parametrize(
    ("chart", "values", "message"),
    [("greenzone-inference", v, m) for v, m in BAD_INFERENCE]
    + [("greenzone-guardrails", v, m) for v, m in BAD_GUARDRAILS],
)
def test_values_schema_refuses_with_the_key_path(chart: str, values: dict[str, Any], message: str) -> None:
    result = helm("template", "probe", str(CHARTS / chart), values=values)
    assert result.returncode != 0, f"{values} was accepted"
    assert "values don't meet the specifications of the schema" in result.stderr
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_charts_values_files_match_the_examples(name: str) -> None:
    """charts/values/<name>/ is `greenzone values --out` of the example; regenerate it when this fails."""
    example = EXAMPLES[name]
    releases = appliance_releases(load_valid_answers(example))
    source = example.relative_to(ROOT).as_posix()
    folder = CHARTS / "values" / name
    assert sorted(path.name for path in folder.iterdir()) == sorted(f"{r.name}.yaml" for r in releases)
    for release in releases:
        assert (folder / f"{release.name}.yaml").read_text() == values_yaml(release, source), (
            f"charts/values/{name}/{release.name}.yaml is stale: "
            f"run `greenzone values --answers {source} --out charts/values/{name}`"
        )


def _walk(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        return [item for key, sub in value.items() for item in [(f"{path}.{key}", sub), *_walk(sub, f"{path}.{key}")]]
    if isinstance(value, list):
        return [item for index, sub in enumerate(value) for item in _walk(sub, f"{path}[{index}]")]
    return []


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_values_name_secrets_and_never_hold_them(name: str) -> None:
    for release in appliance_releases(load_valid_answers(EXAMPLES[name])):
        for path, value in _walk(release.values):
            leaf = path.rsplit(".", 1)[-1].lower()
            if any(word in leaf for word in ("password", "secret", "token")) and isinstance(value, str):
                known = value in secrets.ALL or value.isupper() or value in ("admin-user", "admin-password")
                assert known, f"{release.name}{path} = {value!r} looks like a secret value, not a Secret's name"
        text = yaml.safe_dump(release.values)
        assert "Harbor12345" not in text and "changeit" not in text


def test_gpu_operator_values_follow_the_answers() -> None:
    shared = answers(gpu={"driver": "operator", "mig_strategy": "mixed", "time_slicing_replicas": 4})
    (operator,) = [r for r in appliance_releases(shared) if r.name == "gpu-operator"]
    values = operator.values
    assert values["driver"]["enabled"] is True
    assert values["mig"]["strategy"] == "mixed" and values["migManager"]["enabled"] is True
    env = {item["name"]: item["value"] for item in values["toolkit"]["env"]}
    assert env == {
        "CONTAINERD_CONFIG": "/var/lib/rancher/k3s/agent/etc/containerd/config.toml",
        "CONTAINERD_SOCKET": "/run/k3s/containerd/containerd.sock",
        "CONTAINERD_RUNTIME_CLASS": "nvidia",
        "RUNTIME_CONFIG_SOURCE": "file",
    }
    config = values["devicePlugin"]["config"]
    assert config["create"] is True and config["default"] == "any"
    sharing = yaml.safe_load(config["data"]["any"])
    assert sharing["flags"]["migStrategy"] == "mixed"
    assert sharing["sharing"]["timeSlicing"]["resources"] == [{"name": "nvidia.com/gpu", "replicas": 4}]

    plain = answers()
    (operator,) = [r for r in appliance_releases(plain) if r.name == "gpu-operator"]
    assert operator.values["driver"]["enabled"] is False
    assert operator.values["migManager"]["enabled"] is False
    assert operator.values["devicePlugin"]["config"]["create"] is False


def test_harbor_values_expose_ingress_on_443_and_node_port_otherwise() -> None:
    (on_443,) = [r for r in appliance_releases(answers()) if r.name == "harbor"]
    assert on_443.values["expose"]["type"] == "ingress"
    assert on_443.values["expose"]["ingress"]["hosts"]["core"] == "registry.ai.matrix.local"
    assert on_443.values["externalURL"] == "https://registry.ai.matrix.local"
    (custom,) = [
        r
        for r in appliance_releases(answers(registry={"hostname": "harbor.site", "port": 30443}))
        if r.name == "harbor"
    ]
    assert custom.values["expose"]["type"] == "nodePort"
    assert custom.values["expose"]["nodePort"]["ports"]["https"]["nodePort"] == 30443
    assert custom.values["externalURL"] == "https://harbor.site:30443"
    assert custom.values["expose"]["tls"]["secret"]["secretName"] == secrets.REGISTRY_TLS
    assert custom.values["existingSecretAdminPassword"] == secrets.HARBOR_ADMIN


def test_release_order_and_monitoring_switch() -> None:
    assert [r.name for r in appliance_releases(answers())] == [
        "gpu-operator",
        "harbor",
        "monitoring",
        "greenzone-inference",
        "greenzone-guardrails",
    ]
    assert "monitoring" not in [r.name for r in appliance_releases(answers(monitoring={"enabled": False}))]


def test_merge_is_helms_values_merge() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert merge(base, {"a": {"c": [3]}, "e": 2}) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": 2}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}, "merge must not change its input"


# -- images -----------------------------------------------------------------------------------------


def _list(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def test_every_listed_image_is_pinned_in_the_lock() -> None:
    """images/*.txt of the third-party charts come from rendering their real archives (bundle's
    charts/); this keeps the lock honest about them even where those archives are not at hand."""
    lists = sorted((ROOT / "images").glob("*.txt"))
    assert {path.stem for path in lists} >= {"gpu-operator", "harbor", "monitoring", "greenzone-inference"}
    pinned = pinned_refs()
    for path in lists:
        refs = _list(path)
        assert refs, f"{path} is empty"
        checks = judge(path.stem, refs, pinned)
        assert [c.status for c in checks] == [Status.PASS], [c.detail for c in checks]


def test_our_chart_image_list_is_what_the_chart_renders() -> None:
    rendered: set[str] = set()
    for example in EXAMPLES.values():
        for release in appliance_releases(load_valid_answers(example)):
            if release.ours:
                rendered.update(images_of(render_chart(release.chart, release.name, release.namespace, release.values)))
    assert _list(ROOT / "images" / "greenzone-inference.txt") == sorted(rendered)


def test_judge_names_unpinned_and_moving_images() -> None:
    checks = judge("demo", ["docker.io/library/busybox:1.37", "quay.io/x/y:latest", "ghcr.io/a/b:1"], ["busybox:1.37"])
    by_name = {check.name: check for check in checks}
    assert by_name["demo: fixed tags"].status == Status.FAIL
    assert "quay.io/x/y:latest" in by_name["demo: fixed tags"].detail
    assert by_name["demo: pinned in the lock"].detail == "1 of 3 images are not in the lock: ghcr.io/a/b:1"


def test_images_of_reads_pods_cronjobs_operator_args_and_cluster_policy() -> None:
    pod = {
        "containers": [
            {
                "name": "a",
                "image": "busybox:1.37",
                "args": [
                    "--prometheus-config-reloader=quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1",
                    "--thanos-default-base-image=quay.io/thanos/thanos:v0.42.4",
                    "--log-level=info",
                ],
            }
        ],
        "initContainers": [{"name": "b", "image": "ghcr.io/x/init:2"}],
    }
    objects: list[dict[str, Any]] = [
        {"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": pod}}},
        {
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "spec": {
                "jobTemplate": {
                    "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "registry.k8s.io/c:1"}]}}}
                }
            },
        },
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "Prometheus",
            "spec": {"image": "quay.io/prometheus/prometheus:v3.14.0"},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "data": {"image": "not.an/image:1"}},
        {
            "apiVersion": "nvidia.com/v1",
            "kind": "ClusterPolicy",
            "spec": {
                "operator": {
                    "initContainer": {"repository": "nvcr.io/nvidia", "image": "cuda", "version": "13.0.1-base-ubi9"}
                },
                "driver": {
                    "enabled": True,
                    "repository": "nvcr.io/nvidia",
                    "image": "driver",
                    "version": "580.105.08",
                    "manager": {
                        "repository": "nvcr.io/nvidia/cloud-native",
                        "image": "k8s-driver-manager",
                        "version": "v0.9.1",
                    },
                },
                "toolkit": {
                    "enabled": True,
                    "repository": "nvcr.io/nvidia/k8s",
                    "image": "container-toolkit",
                    "version": "v1.18.1",
                },
                "migManager": {
                    "enabled": False,
                    "repository": "nvcr.io/nvidia/cloud-native",
                    "image": "k8s-mig-manager",
                    "version": "v0.13.1",
                },
                "sandboxWorkloads": {"enabled": False},
                "vfioManager": {"enabled": True, "repository": "nvcr.io/nvidia", "image": "cuda", "version": "other"},
                "validator": {"repository": "nvcr.io/nvidia", "image": "gpu-operator", "version": "sha256:" + "a" * 64},
            },
        },
    ]
    assert images_of(objects) == [
        "docker.io/library/busybox:1.37",
        "ghcr.io/x/init:2",
        "nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.9.1",
        "nvcr.io/nvidia/cuda:13.0.1-base-ubi9",
        "nvcr.io/nvidia/driver:580.105.08-ubuntu22.04",
        "nvcr.io/nvidia/driver:580.105.08-ubuntu24.04",
        "nvcr.io/nvidia/driver:580.105.08-ubuntu26.04",
        "nvcr.io/nvidia/gpu-operator@sha256:" + "a" * 64,
        "nvcr.io/nvidia/k8s/container-toolkit:v1.18.1",
        "quay.io/prometheus-operator/prometheus-config-reloader:v0.93.1",
        "quay.io/prometheus/prometheus:v3.14.0",
        "registry.k8s.io/c:1",
    ]


# -- commands ---------------------------------------------------------------------------------------


def test_values_command_writes_once_then_reports_unchanged(run_cli: Run, tmp_path: Path) -> None:
    out = tmp_path / "values"
    first = run_cli("values", "--answers", "examples/single-node-ollama.yaml", "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert first.stdout.count(" written") == 5
    second = run_cli("values", "--answers", "examples/single-node-ollama.yaml", "--out", str(out), "--json")
    assert second.returncode == 0
    assert second.stdout.count("unchanged") == 5
    printed = run_cli("values", "--answers", "examples/single-node-ollama.yaml", "--release", "harbor")
    assert printed.returncode == 0
    assert yaml.safe_load(printed.stdout)["existingSecretAdminPassword"] == secrets.HARBOR_ADMIN


def test_values_command_errors_are_input_errors(run_cli: Run, tmp_path: Path) -> None:
    unknown = run_cli("values", "--answers", "examples/single-node-ollama.yaml", "--release", "grafana")
    assert unknown.returncode == 3
    assert "no release called grafana" in unknown.stderr and "gpu-operator" in unknown.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "examples/single-node-ollama.yaml").read_text().replace("engine: ollama", "engine: llama"))
    invalid = run_cli("values", "--answers", str(bad))
    assert invalid.returncode == 3
    assert "inference.engine" in invalid.stderr and "Traceback" not in invalid.stderr


def test_bundle_images_checks_our_charts_and_says_what_it_could_not_render(run_cli: Run, tmp_path: Path) -> None:
    result = run_cli("bundle", "images", "--answers", "examples/single-node-ollama.yaml", "--json")
    assert result.returncode == 1, result.stdout + result.stderr  # third-party charts are not here: warnings
    report = yaml.safe_load(result.stdout)
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    assert statuses["greenzone-inference: pinned in the lock"] == "pass"
    assert statuses["gpu-operator: rendered"] == "warn"
    assert report["data"]["images"]["greenzone-inference"] == [
        "docker.io/curlimages/curl:8.17.0",
        "docker.io/ollama/ollama:0.24.0",
        "ghcr.io/berriai/litellm:v1.108.7",
        "ghcr.io/open-webui/open-webui:v0.6.34",
    ]
    # A lock that lost the Ollama image fails, naming it.
    lock = tmp_path / "airgap" / "bundle.lock.yaml"
    lock.parent.mkdir()
    text = LOCK.read_text()
    lock.write_text("\n".join(line for line in text.splitlines() if "ollama/ollama" not in line) + "\n")
    (tmp_path / "charts").symlink_to(CHARTS)
    failed = run_cli("bundle", "images", "--answers", "examples/single-node-ollama.yaml", "--lock", str(lock))
    assert failed.returncode == 2
    assert "docker.io/ollama/ollama:0.24.0" in failed.stdout


def test_a_precompiled_driver_is_not_listed_by_os_alone() -> None:
    """Its tag carries each node's kernel (`580-6.8.0-60-generic-ubuntu24.04`): no rendering can
    know it, so none is listed; the lock pins one per kernel and preflight checks each GPU node."""
    policy = {
        "apiVersion": "nvidia.com/v1",
        "kind": "ClusterPolicy",
        "spec": {
            "driver": {
                "enabled": True,
                "usePrecompiled": True,
                "repository": "nvcr.io/nvidia",
                "image": "driver",
                "version": "580",
                "manager": {
                    "repository": "nvcr.io/nvidia/cloud-native",
                    "image": "k8s-driver-manager",
                    "version": "v0.12.0",
                },
            },
        },
    }
    assert images_of([policy]) == ["nvcr.io/nvidia/cloud-native/k8s-driver-manager:v0.12.0"]

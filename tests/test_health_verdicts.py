"""The pure health verdicts on real-shaped data: Kubernetes objects from the client's own model
classes (tests/health_cluster.py), NVML facts as the adapter returns them, HTTP records as the
readers return them. Healthy, degraded and broken, one cause at a time, each with its remedy."""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path
from typing import Any

import pytest

from greenzone.answers.files import load_valid_answers
from greenzone.errors import InputError
from greenzone.health.cluster_checks import cluster_checks
from greenzone.health.host_checks import host_checks
from greenzone.health.inference_checks import inference_checks
from greenzone.health.metrics import prometheus_text
from greenzone.health.observed import (
    CertView,
    ClusterView,
    HostView,
    Http,
    ImagePresence,
    InferenceView,
    ModelAnswer,
    RegistryView,
)
from greenzone.health.registry_checks import registry_checks
from greenzone.health.targets import Targets, engine_endpoints, health_targets, parse_endpoints
from greenzone.health.xid import parse_kernel_log
from greenzone.health.zone_checks import cert_check, zone_checks
from greenzone.preflight.facts_model import DiskFacts, GpuFacts, NvmlFacts, RemappedRows
from greenzone.results import Check, Report, Status
from greenzone.statedir import StateDir
from tests.support import health_cluster as hc
from tests.support.health import ANSWERS

IMAGES = [
    ("docker.io/ollama/ollama:0.6.5", "sha256:" + "a" * 64),
    ("docker.io/goharbor/harbor-core:v2.13.1", "sha256:" + "b" * 64),
]


@pytest.fixture
def targets(tmp_path: Path) -> Targets:
    path = tmp_path / "answers.yaml"
    path.write_text(ANSWERS)
    return health_targets(load_valid_answers(path), StateDir(tmp_path), IMAGES, {}, hostname="ignored")


def by_name(checks: Any) -> dict[str, Check]:
    return {check.name: check for check in checks}


def gpu(**changes: Any) -> GpuFacts:
    healthy = GpuFacts(
        index=0,
        name="NVIDIA H100 80GB HBM3",
        memory_total=80 * 2**30,
        memory_used=60 * 2**30,
        temperature_c=45,
        slowdown_temperature_c=87,
        ecc_current=True,
        ecc_pending=True,
        ecc_uncorrected_volatile=0,
        remapped_rows=RemappedRows(0, 0, False, False),
        clocks_event_reasons=0x4,
    )
    return dataclasses.replace(healthy, **changes)


def host(*gpus: GpuFacts, xids: Any = (), free: float = 0.5) -> HostView:
    disk = DiskFacts("k3s data dir", "/var/lib/rancher/k3s", "/var/lib", int(free * 1000 * 2**30), 1000 * 2**30)
    return HostView(NvmlFacts("ok", "", "550.54.15", "12.4", gpus), (), tuple(xids), "", (disk,))


# --- cluster ---------------------------------------------------------------------------------


def test_healthy_cluster_passes(targets: Targets) -> None:
    view = hc.view(hc.appliance_cluster("gz-node-1"))
    checks = list(cluster_checks(view, targets, host(gpu()).nvml, hc.NOW))
    assert [check for check in checks if check.status != Status.PASS] == []
    found = by_name(checks)
    assert "gz-node-1: 1 nvidia.com/gpu, NVML sees 1 GPU(s)" in found["GPU allocatable"].detail
    assert found["GPU operator"].detail == "ClusterPolicy ready; validations passed on 1 node(s)"
    assert {f"pods in {name}" for name in hc.NAMESPACES} <= set(found)


def test_api_down_skips_the_rest_with_a_remedy(targets: Targets) -> None:
    view = ClusterView("https://127.0.0.1:6443", error="connection refused (nothing listens there)")
    checks = by_name(cluster_checks(view, targets, None, hc.NOW))
    assert checks["Kubernetes API"].status == Status.FAIL
    assert "systemctl status k3s" in checks["Kubernetes API"].remedy
    assert {checks[name].status for name in ("nodes", "GPU allocatable", "GPU operator", "pods")} == {Status.SKIP}


def test_node_not_ready_is_named(targets: Targets) -> None:
    cluster = hc.appliance_cluster("gz-node-1")
    cluster["nodes"].append(hc.node("gz-node-2", gpus=0, ready=False))
    check = by_name(cluster_checks(hc.view(cluster), targets, None, hc.NOW))["nodes"]
    assert check.status == Status.FAIL
    assert "gz-node-2 NotReady (NodeStatusUnknown: Kubelet stopped posting node status.)" in check.detail


def test_gpu_allocatable_below_nvml_count_fails(targets: Targets) -> None:
    """The device plugin withholds a GPU (e.g. after Xid 79): NVML sees 2, the node offers 1."""
    view = hc.view(hc.appliance_cluster("gz-node-1"))
    nvml = host(gpu(), gpu(index=1)).nvml
    check = by_name(cluster_checks(view, targets, nvml, hc.NOW))["GPU allocatable"]
    assert check.status == Status.FAIL
    assert "NVML sees 2" in check.detail and "nvidia-device-plugin" in check.remedy


def test_time_slicing_replicas_multiply_the_expected_count(targets: Targets) -> None:
    cluster = hc.appliance_cluster("gz-node-1")
    cluster["nodes"] = [hc.node("gz-node-1", gpus=4, labels={"nvidia.com/gpu.replicas": "4"})]
    check = by_name(cluster_checks(hc.view(cluster), targets, host(gpu()).nvml, hc.NOW))["GPU allocatable"]
    assert check.status == Status.PASS, check
    assert "× 4 time-slicing replicas" in check.detail


def test_no_gpu_node_at_all_fails(targets: Targets) -> None:
    cluster = hc.appliance_cluster("gz-node-1")
    cluster["nodes"] = [hc.node("gz-node-1", gpus=0)]
    check = by_name(cluster_checks(hc.view(cluster), targets, None, hc.NOW))["GPU allocatable"]
    assert check.status == Status.FAIL and "no node offers nvidia.com/gpu" in check.detail


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"clusterpolicies": None}, "the operator is not installed"),
        ({"clusterpolicies": [{**hc.CLUSTER_POLICY, "status": {"state": "notReady"}}]}, "is notReady"),
    ],
)
def test_gpu_operator_not_ready(targets: Targets, change: dict[str, Any], expected: str) -> None:
    cluster = {**hc.appliance_cluster("gz-node-1"), **change}
    check = by_name(cluster_checks(hc.view(cluster), targets, None, hc.NOW))["GPU operator"]
    assert check.status == Status.FAIL and expected in check.detail


def test_failed_operator_validation_is_named(targets: Targets) -> None:
    cluster = hc.appliance_cluster("gz-node-1")
    cluster["pods"][0] = hc.pod(
        "nvidia-operator-validator-x7k2p",
        "gpu-operator",
        ready=False,
        waiting="PodInitializing",
        labels={"app": "nvidia-operator-validator"},
        init={**hc.VALIDATIONS, "cuda-validation": 1, "plugin-validation": None},
    )
    check = by_name(cluster_checks(hc.view(cluster), targets, None, hc.NOW))["GPU operator"]
    assert check.status == Status.FAIL
    assert "cuda-validation (exit 1)" in check.detail and "plugin-validation (PodInitializing)" in check.detail


def test_pods_not_ready_and_restarting_are_named(targets: Targets) -> None:
    cluster = hc.appliance_cluster("gz-node-1")
    recent = hc.NOW - datetime.timedelta(minutes=5)
    cluster["pods"] += [
        hc.pod(
            "harbor-database-0", "harbor", ready=False, waiting="CrashLoopBackOff", restarts=12, last=("Error", recent)
        ),
        hc.pod("ollama-x", "greenzone-inference", restarts=4, last=("OOMKilled", recent)),
        hc.pod("old-restarts", "monitoring", restarts=9, last=("Error", hc.NOW - datetime.timedelta(days=3))),
    ]
    checks = by_name(cluster_checks(hc.view(cluster), targets, None, hc.NOW))
    harbor = checks["pods in harbor"]
    assert harbor.status == Status.FAIL
    assert "harbor-database-0: main: CrashLoopBackOff" in harbor.detail and "12 restarts" in harbor.detail
    inference = checks["pods in greenzone-inference"]
    assert inference.status == Status.WARN and "ollama-x/main: 4 restarts, last OOMKilled" in inference.detail
    assert checks["pods in monitoring"].status == Status.PASS  # restarts days ago are history, not a fault


def test_missing_namespace_fails(targets: Targets) -> None:
    cluster = hc.appliance_cluster("gz-node-1")
    cluster["namespaces"] = [ns for ns in cluster["namespaces"] if ns["metadata"]["name"] != "legal-dept"]
    checks = by_name(cluster_checks(hc.view(cluster), targets, None, hc.NOW))
    assert checks["pods in legal-dept"].status == Status.FAIL
    assert by_name(zone_checks(hc.view(cluster), [], targets, hc.NOW))["egress legal-dept"].status == Status.FAIL


# --- green zone ------------------------------------------------------------------------------


def test_egress_denied_everywhere_passes(targets: Targets) -> None:
    checks = by_name(zone_checks(hc.view(hc.appliance_cluster("gz-node-1")), [], targets, hc.NOW))
    assert {checks[f"egress {name}"].status for name in hc.ZONE} == {Status.PASS}


@pytest.mark.parametrize(
    ("policies", "expected"),
    [
        ("drop-deny", "no default-deny egress policy"),
        (None, "let-me-out allows egress to any destination"),
        ("0.0.0.0/0", "let-me-out allows egress to 0.0.0.0/0"),
    ],
)
def test_egress_opened_fails(targets: Targets, policies: str | None, expected: str) -> None:
    cluster = hc.appliance_cluster("gz-node-1")
    if policies == "drop-deny":
        cluster["policies"] = [
            p
            for p in cluster["policies"]
            if not (p["metadata"]["namespace"] == "legal-dept" and "deny" in p["metadata"]["name"])
        ]
    else:
        cluster["policies"].append(hc.open_policy("legal-dept", policies))
    checks = by_name(zone_checks(hc.view(cluster), [], targets, hc.NOW))
    assert checks["egress legal-dept"].status == Status.FAIL
    assert expected in checks["egress legal-dept"].detail
    assert checks["egress greenzone-inference"].status == Status.PASS


def test_allow_list_cidrs_are_not_an_opening(targets: Targets) -> None:
    allowing = dataclasses.replace(targets, egress="allow-list", allow_cidrs=("10.20.0.0/16",))
    cluster = hc.appliance_cluster("gz-node-1")
    cluster["policies"].append(hc.open_policy("legal-dept", "10.20.30.0/24"))
    assert by_name(zone_checks(hc.view(cluster), [], allowing, hc.NOW))["egress legal-dept"].status == Status.PASS
    cluster["policies"].append(hc.open_policy("legal-dept", "10.21.0.0/16"))
    check = by_name(zone_checks(hc.view(cluster), [], allowing, hc.NOW))["egress legal-dept"]
    assert check.status == Status.FAIL and "10.21.0.0/16" in check.detail


@pytest.mark.parametrize(
    ("days", "status"), [(400, Status.PASS), (20, Status.WARN), (10, Status.FAIL), (-1, Status.FAIL)]
)
def test_certificate_days_left(days: int, status: Status) -> None:
    cert = CertView("registry", "registry.ai.test:443", hc.NOW + datetime.timedelta(days=days), "CN=registry")
    check = cert_check(cert, hc.NOW)
    assert check.status == status
    assert (check.remedy == "") == (status == Status.PASS)
    if days < 0:
        assert "expired on" in check.detail


def test_unreadable_ca_file_fails_but_unreachable_endpoint_is_left_to_its_layer() -> None:
    assert (
        cert_check(CertView("appliance CA", "/var/lib/greenzone/ca.crt", error="No such file"), hc.NOW).status
        == Status.FAIL
    )
    assert cert_check(CertView("chat UI", "ai.test:443", error="refused"), hc.NOW).status == Status.SKIP


# --- host ------------------------------------------------------------------------------------


def test_healthy_gpu_passes(targets: Targets) -> None:
    checks = list(host_checks(host(gpu()), targets))
    assert [check for check in checks if check.status != Status.PASS] == []
    assert by_name(checks)["GPU 0 (NVIDIA H100 80GB HBM3) clocks"].detail == "limited by power cap (normal under load)"
    assert {check.group for check in checks} == {"host"}


@pytest.mark.parametrize(
    ("changes", "name", "status", "words"),
    [
        ({"temperature_c": 90}, "temperature", Status.FAIL, "90 °C"),
        ({"ecc_uncorrected_volatile": 3}, "ECC", Status.FAIL, "3 uncorrectable"),
        ({"clocks_event_reasons": 0x40}, "clocks", Status.FAIL, "hardware thermal slowdown"),
        ({"clocks_event_reasons": 0x20}, "clocks", Status.WARN, "software thermal slowdown"),
        ({"memory_used": 79 * 2**30}, "memory", Status.WARN, "will not fit"),
        # The driver's reservation counts toward full (v2 reading: used leaves it out).
        ({"memory_used": 78 * 2**30, "memory_reserved": 2**30}, "memory", Status.WARN, "1.0 GiB more reserved"),
        ({"remapped_rows": RemappedRows(0, 0, False, True)}, "row remapping", Status.FAIL, "cannot be repaired"),
    ],
)
def test_degraded_gpu(targets: Targets, changes: dict[str, Any], name: str, status: Status, words: str) -> None:
    check = by_name(host_checks(host(gpu(**changes)), targets))[f"GPU 0 (NVIDIA H100 80GB HBM3) {name}"]
    assert check.status == status and words in check.detail and check.remedy


def test_lost_gpu_stops_at_lost(targets: Targets) -> None:
    checks = by_name(host_checks(host(GpuFacts(index=0, lost=True)), targets))
    assert checks["GPU 0"].status == Status.FAIL
    assert not any(name.startswith("GPU 0 ") for name in checks)


def test_xid_lines_from_the_kernel_log() -> None:
    lines = [
        "4,1234,98765432,-;NVRM: Xid (PCI:0000:17:00): 79, pid=0, name=, GPU has fallen off the bus.",
        "[  812.345678] NVRM: Xid (PCI:0000:18:00): 13, pid=4242, name=ollama, Graphics Exception",
        "6,1235,98765500,-;usb 1-1: new high-speed USB device",
    ]
    events = parse_kernel_log(lines)
    assert [(event.pci, event.code) for event in events] == [("0000:17:00", 79), ("0000:18:00", 13)]


def test_xid_verdicts(targets: Targets) -> None:
    app_only = parse_kernel_log(["NVRM: Xid (PCI:0000:17:00): 13, pid=1, name=x, Graphics Exception"] * 2)
    check = by_name(host_checks(host(gpu(), xids=app_only), targets))["Xid errors"]
    assert check.status == Status.WARN and "Xid 13 on 0000:17:00 ×2" in check.detail
    fatal = parse_kernel_log(["NVRM: Xid (PCI:0000:17:00): 79, pid=0, GPU has fallen off the bus."])
    check = by_name(host_checks(host(gpu(), xids=fatal), targets))["Xid errors"]
    assert check.status == Status.FAIL and "fallen off the bus" in check.detail
    unreadable = dataclasses.replace(host(gpu()), xids=None, xid_error="/dev/kmsg: Operation not permitted")
    assert by_name(host_checks(unreadable, targets))["Xid errors"].status == Status.SKIP


@pytest.mark.parametrize(("free", "status"), [(0.5, Status.PASS), (0.15, Status.WARN), (0.05, Status.FAIL)])
def test_disk_thresholds(targets: Targets, free: float, status: Status) -> None:
    assert by_name(host_checks(host(gpu(), free=free), targets))["disk k3s data dir"].status == status


def test_operator_driver_missing_points_at_the_driver_pod(targets: Targets) -> None:
    operator = dataclasses.replace(targets, driver="operator")
    view = HostView(NvmlFacts("no_library", "libnvidia-ml.so.1 was not found"))
    check = by_name(host_checks(view, operator))["NVML"]
    assert check.status == Status.FAIL and "nvidia-driver-daemonset" in check.remedy


def test_host_layer_skipped_when_no_node_is_local(targets: Targets) -> None:
    remote = dataclasses.replace(targets, local_node=False)
    assert [check.status for check in host_checks(None, remote)] == [Status.SKIP]


# --- registry --------------------------------------------------------------------------------


def _registry(targets: Targets, **changes: Any) -> RegistryView:
    url = "https://registry.ai.health.test"
    healthy = RegistryView(
        url,
        Http(f"{url}/v2/", 401, 0.02),
        Http(
            f"{url}/api/v2.0/health",
            200,
            0.03,
            {"status": "healthy", "components": [{"name": "core", "status": "healthy"}]},
        ),
        {"docker.io": True},
        tuple(ImagePresence(image.ref, image.repository, image.digest, True) for image in targets.images),
    )
    return dataclasses.replace(healthy, **changes)


def test_registry_healthy(targets: Targets) -> None:
    checks = list(registry_checks(_registry(targets), targets))
    assert [check.status for check in checks] == [Status.PASS] * 4


def test_registry_unhealthy_component_and_missing_image(targets: Targets) -> None:
    sick = Http(
        "u",
        200,
        0.1,
        {
            "status": "unhealthy",
            "components": [{"name": "database", "status": "unhealthy", "error": "dial tcp: connection refused"}],
        },
    )
    images = (ImagePresence("docker.io/ollama/ollama:0.6.5", "docker.io/ollama/ollama", "sha256:" + "a" * 64, False),)
    checks = by_name(
        registry_checks(_registry(targets, harbor_health=sick, images=images, projects={"docker.io": False}), targets)
    )
    assert "database: dial tcp: connection refused" in checks["Harbor health"].detail
    assert checks["Harbor projects"].status == Status.FAIL
    assert checks["images"].status == Status.FAIL and "docker.io/ollama/ollama:0.6.5" in checks["images"].detail


def test_registry_down_skips_images(targets: Targets) -> None:
    down = Http("https://registry.ai.health.test/v2/", error="connection refused (nothing listens there)")
    checks = by_name(registry_checks(_registry(targets, api=down, harbor_health=down), targets))
    assert checks["registry API"].status == Status.FAIL and checks["images"].status == Status.SKIP


# --- inference -------------------------------------------------------------------------------


def test_inference_verdicts(targets: Targets) -> None:
    answers = (
        ModelAnswer("gemma3:4b", "ollama", Http("u", 200, 0.12, {"response": "OK"}), "OK"),
        ModelAnswer("llama3.2:3b", "ollama", Http("u", 404, 0.01, {"error": "model 'llama3.2:3b' not found"})),
        ModelAnswer("gemma3:4b", "openai", Http("u", 200, 4.5, {}), "OK"),
    )
    view = InferenceView({"gemma3:4b": "u", "llama3.2:3b": "u"}, answers, Http("https://ai.health.test/", 200, 0.05))
    checks = by_name(inference_checks(view, targets))
    assert checks["model gemma3:4b (Ollama API)"].status == Status.PASS
    assert "0.12 s" in checks["model gemma3:4b (Ollama API)"].detail
    missing = checks["model llama3.2:3b (Ollama API)"]
    assert missing.status == Status.FAIL and "not found" in missing.detail and "--phase inference" in missing.remedy
    assert checks["model gemma3:4b (OpenAI-compatible API)"].status == Status.WARN
    assert checks["chat UI"].status == Status.PASS


def test_engine_endpoints_from_services(targets: Targets) -> None:
    services = [hc.service("gz-ollama", "greenzone-inference", "ollama", "10.43.0.20", 11434)]
    assert engine_endpoints(services, targets) == (
        {"gemma3:4b": "http://10.43.0.20:11434", "llama3.2:3b": "http://10.43.0.20:11434"},
        "",
    )
    vllm = dataclasses.replace(targets, engine="vllm", models=("google/gemma-3-4b-it",))
    services = [hc.service("gz-gemma", "greenzone-inference", "vllm", "10.43.0.21", 8000, "google/gemma-3-4b-it")]
    assert engine_endpoints(services, vllm) == ({"google/gemma-3-4b-it": "http://10.43.0.21:8000"}, "")
    assert "no ollama Service" in engine_endpoints([], targets)[1]


def test_endpoint_option_parsing() -> None:
    assert parse_endpoints(["registry=http://127.0.0.1:5000/"]) == {"registry": "http://127.0.0.1:5000"}
    with pytest.raises(InputError, match="known NAME"):
        parse_endpoints(["regsitry=http://x"])
    with pytest.raises(InputError, match="no scheme"):
        parse_endpoints(["registry=127.0.0.1:5000"])


# --- metrics ---------------------------------------------------------------------------------


def test_metrics_text_escapes_labels_and_leaves_out_skips() -> None:
    report = Report(
        "health",
        (
            Check('model "x"\\y', Status.FAIL, group="inference"),
            Check("Xid errors", Status.SKIP, group="host"),
            Check("nodes", Status.PASS, group="cluster"),
        ),
    )
    text = prometheus_text(
        report, finished_at=1.8e9, seconds=1.5, layer_seconds={"host": 0.2}, latencies={("m", "ollama"): 0.1}
    )
    assert 'greenzone_health_check_status{layer="inference",check="model \\"x\\"\\\\y"} 2' in text
    assert "Xid errors" not in text
    assert "greenzone_health_status 2" in text
    assert 'greenzone_health_inference_latency_seconds{model="m",api="ollama"} 0.1' in text
    assert text.endswith("\n")

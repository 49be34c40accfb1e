"""`greenzone node add`'s wait for the joined node: Ready, and on a GPU node its GPUs offered by the
operator with its pods there ready (health.node_gate), on real-shaped API objects; then the polling
adapter against a Kubernetes API stand-in (no k3s can run here)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from greenzone.answers.files import load_valid_answers
from greenzone.commands.node import Addition, _wait_ready
from greenzone.health.node_gate import new_node_gate
from greenzone.results import Status
from greenzone.statedir import StateDir
from tests.support.health import write_kubeconfig
from tests.support.health_cluster import node, pod
from tests.support.health_standins import kube_api, serve
from tests.support.paths import EXAMPLES

OPERATOR = "gpu-operator"


def on(obj: dict[str, Any], where: str) -> dict[str, Any]:
    return {**obj, "spec": {**(obj.get("spec") or {}), "nodeName": where}}


def gate(nodes: list[dict[str, Any]], pods: list[dict[str, Any]], *, gpu: bool = True) -> Any:
    return new_node_gate("gpu-2", nodes, pods, expects_gpu=gpu, operator_namespace=OPERATOR)


def operator_pods(**changes: Any) -> list[dict[str, Any]]:
    plugin = pod("nvidia-device-plugin-daemonset-x1", OPERATOR, **changes)
    validator = pod("nvidia-operator-validator-x1", OPERATOR, init={"driver-validation": 0, "cuda-validation": 0})
    elsewhere = pod("nvidia-device-plugin-daemonset-y9", OPERATOR, ready=False, waiting="CrashLoopBackOff")
    return [on(plugin, "gpu-2"), on(validator, "gpu-2"), on(elsewhere, "gpu-1")]


def test_a_node_is_waited_for_until_registered_and_ready() -> None:
    first = gate([node("gpu-1")], [])
    assert not first.done and first.check.detail == "not registered with the cluster yet"
    second = gate([node("gpu-1"), node("gpu-2", gpus=0, ready=False)], [])
    assert not second.done and "not Ready" in second.check.detail
    cpu = gate([node("gpu-2", gpus=0)], [], gpu=False)
    assert cpu.done and cpu.check.status is Status.PASS


def test_a_gpu_node_waits_for_its_label_offered_gpus_and_operator_pods() -> None:
    bare = gate([node("gpu-2", gpus=0)], [])
    assert not bare.done
    for words in ("nvidia.com/gpu.present", "no nvidia.com/gpu offered", "no operator pod"):
        assert words in bare.check.detail
    starting = gate([node("gpu-2", gpus=2)], operator_pods(ready=False))
    assert not starting.done and "nvidia-device-plugin-daemonset-x1 Pending" in starting.check.detail
    ready = gate([node("gpu-2", gpus=2)], operator_pods())
    assert ready.done and ready.check.status is Status.PASS and "2 nvidia.com/gpu offered" in ready.check.detail
    # Another node's broken pod is not this node's problem.
    assert "y9" not in ready.check.detail


def test_a_failing_operator_pod_there_ends_the_wait_with_its_name() -> None:
    # A first crash or two is the operator coming up on a new node: still waited for.
    starting = gate([node("gpu-2", gpus=0)], operator_pods(ready=False, waiting="CrashLoopBackOff", restarts=1))
    assert not starting.done and "CrashLoopBackOff (1 restarts)" in starting.check.detail
    broken = gate([node("gpu-2", gpus=0)], operator_pods(ready=False, waiting="CrashLoopBackOff", restarts=3))
    assert broken.done and broken.check.status is Status.FAIL
    assert "nvidia-device-plugin-daemonset-x1" in broken.check.detail and "CrashLoopBackOff" in broken.check.detail
    assert "spec.nodeName=gpu-2" in broken.check.remedy


def test_a_node_the_answers_do_not_name_is_found_by_its_address() -> None:
    """k3s registers it under the machine's host name; the answers only know its IP."""
    registered = node("dgx-07", gpus=1)
    registered["status"]["addresses"] = [
        {"type": "InternalIP", "address": "10.0.0.17"},
        {"type": "Hostname", "address": "dgx-07"},
    ]
    pods = [on(pod("nvidia-device-plugin-daemonset-z", OPERATOR), "dgx-07")]
    found = new_node_gate(
        "node-3-10.0.0.17", [registered], pods, expects_gpu=True, operator_namespace=OPERATOR, addresses=["10.0.0.17"]
    )
    assert found.done and found.check.status is Status.PASS, found.check
    evicted = on(pod("nvidia-driver-daemonset-e", OPERATOR), "dgx-07")
    evicted["status"]["phase"] = "Failed"
    evicted["status"]["reason"] = "Evicted"
    failed = new_node_gate("dgx-07", [registered], [*pods, evicted], expects_gpu=True, operator_namespace=OPERATOR)
    assert failed.done and failed.check.status is Status.FAIL and "failed (Evicted)" in failed.check.detail


def _addition(name: str) -> Addition:
    answers = load_valid_answers(EXAMPLES / "multi-node-vllm.yaml")
    (added,) = [n for n in answers.nodes if n.role == "agent"][:1]
    return Addition(added.name or name, added, answers)


def test_node_add_polls_the_api_and_tells_what_it_waited_for(tmp_path: Path) -> None:
    addition = _addition("gpu-2")
    name = addition.node.name or addition.name
    state = StateDir(tmp_path / "state")
    objects = {
        "/api/v1/nodes": {"kind": "NodeList", "apiVersion": "v1", "items": [node(name, gpus=1)]},
        f"/api/v1/namespaces/{OPERATOR}/pods": {
            "kind": "PodList",
            "apiVersion": "v1",
            "items": [on(pod("nvidia-device-plugin-daemonset-a", OPERATOR), name)],
        },
    }
    with serve(kube_api(objects)) as api:
        write_kubeconfig(state.root, api)
        ready = _wait_ready(state, addition, argparse.Namespace(wait=5, skip_tags=None))
        assert ready.status is Status.PASS, ready
        objects["/api/v1/nodes"]["items"] = [node(name, gpus=0)]
        late = _wait_ready(state, addition, argparse.Namespace(wait=0, skip_tags=None))
    assert late.status is Status.WARN and late.detail.startswith("not ready within 0 s: no nvidia.com/gpu.present")
    assert f"greenzone node remove {addition.name}" in late.remedy
    skipped = _wait_ready(state, addition, argparse.Namespace(wait=5, skip_tags=["images,cluster"]))
    assert skipped.status is Status.SKIP and "cluster tasks skipped" in skipped.detail

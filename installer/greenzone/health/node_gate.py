"""Whether a node that just joined is ready for work (pure): Ready, and on a GPU node the GPU
operator's labels, its offered GPUs and its pods there Ready, with every validation passed.

`greenzone node add` waits on this after the join: the GPU operator needs minutes on a new node
(driver, toolkit, device plugin, then the validator's CUDA workload), and a node whose GPUs never
appear must be named before the site sends work to it. Objects are the API's JSON
(`/api/v1/nodes`, the operator namespace's pods).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from greenzone.results import Check, Status

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRESENT = "nvidia.com/gpu.present"
"""Set by the operator's GPU Feature Discovery on a node with a GPU (gpu-operator's node labels)."""

Obj = Mapping[str, Any]


@dataclass(frozen=True)
class NodeGate:
    done: bool
    """Nothing more to wait for: ready, or something that waiting will not fix."""
    check: Check


def _ready(obj: Obj) -> bool:
    conditions = (obj.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


RESTARTS_BROKEN = 3
"""Restarts after which a crashing container counts as broken: the kubelet retries, and the GPU
operator's pods often restart once or twice on a new node while the driver comes up."""


def _pod_state(pod: Obj) -> tuple[str, bool]:
    """('', _) when the pod is done or serving; else what it waits for, and whether waiting is over
    (the pod failed, or a container keeps crashing)."""
    status = pod.get("status") or {}
    phase = status.get("phase")
    if phase == "Succeeded":
        return "", False
    if phase == "Failed":
        return f"failed ({status.get('reason') or 'see its events'})", True
    for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        state = container.get("state") or {}
        terminated = state.get("terminated") or {}
        waiting = (state.get("waiting") or {}).get("reason")
        restarts = int(container.get("restartCount") or 0)
        crashing = restarts >= RESTARTS_BROKEN
        if terminated and terminated.get("exitCode") not in (0, None):
            return f"{container.get('name')} exited {terminated.get('exitCode')} ({restarts} restarts)", crashing
        if waiting:
            return (
                f"{container.get('name')}: {waiting} ({restarts} restarts)",
                crashing and waiting == "CrashLoopBackOff",
            )
    if phase == "Running" and _ready(pod):
        return "", False
    return f"{phase or 'Pending'}", False


def _count(value: object) -> int:
    """A device count from `allocatable` ("2"); anything else counts as none offered."""
    try:
        return int(str(value))
    except ValueError:
        return 0


def _addresses(node: Obj) -> set[str]:
    return {str(a.get("address")) for a in (node.get("status") or {}).get("addresses") or []}


def new_node_gate(
    name: str,
    nodes: Sequence[Obj],
    pods: Sequence[Obj],
    *,
    expects_gpu: bool,
    operator_namespace: str,
    addresses: Sequence[str] = (),
) -> NodeGate:
    """`pods`: the operator namespace's pods (any node; those on the new node are judged). `addresses`:
    the node's IP or address from the answers, which find it when k3s registered it under the
    machine's own host name (the answers give it no `name`)."""
    group = "node add"
    node = next((n for n in nodes if (n.get("metadata") or {}).get("name") == name), None)
    if node is None and addresses:
        node = next((n for n in nodes if _addresses(n) & set(addresses)), None)
    if node is not None:
        name = str((node.get("metadata") or {}).get("name"))
    if node is None:
        return NodeGate(False, Check(f"{name} ready", Status.FAIL, "not registered with the cluster yet", group=group))
    if not _ready(node):
        return NodeGate(False, Check(f"{name} ready", Status.FAIL, "registered, not Ready yet", group=group))
    if not expects_gpu:
        return NodeGate(
            True, Check(f"{name} ready", Status.PASS, "Ready (no GPU work is scheduled there)", group=group)
        )
    labels = (node.get("metadata") or {}).get("labels") or {}
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    offered = sum(
        _count(value) for key, value in allocatable.items() if key == GPU_RESOURCE or key.startswith("nvidia.com/mig-")
    )
    mine = [p for p in pods if (p.get("spec") or {}).get("nodeName") == name]
    states = {(p.get("metadata") or {}).get("name", "?"): _pod_state(p) for p in mine}
    broken = {pod: state for pod, (state, over) in states.items() if over}
    waiting = {pod: state for pod, (state, over) in states.items() if state and not over}
    remedy = (
        f"`kubectl -n {operator_namespace} get pods -o wide --field-selector spec.nodeName={name}` and the "
        "failing pod's log; `greenzone health` once it is fixed"
    )
    if broken:
        detail = "; ".join(f"{pod}: {state}" for pod, state in sorted(broken.items()))
        return NodeGate(
            True, Check(f"{name} GPUs", Status.FAIL, f"the GPU operator fails there: {detail}", remedy, group)
        )
    if labels.get(GPU_PRESENT) != "true" or offered == 0 or waiting or not mine:
        missing = []
        if labels.get(GPU_PRESENT) != "true":
            missing.append(f"no {GPU_PRESENT} label yet")
        if offered == 0:
            missing.append(f"no {GPU_RESOURCE} offered yet")
        if not mine:
            missing.append("no operator pod there yet")
        missing += [f"{pod} {state}" for pod, state in sorted(waiting.items())]
        return NodeGate(False, Check(f"{name} GPUs", Status.FAIL, "; ".join(missing), remedy, group))
    return NodeGate(
        True,
        Check(
            f"{name} GPUs",
            Status.PASS,
            f"Ready, {offered} {GPU_RESOURCE} offered, {len(mine)} GPU operator pod(s) there ready or done",
            group=group,
        ),
    )

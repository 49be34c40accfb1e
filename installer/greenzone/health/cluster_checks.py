"""Cluster-layer verdicts over the objects the API served (pure).

Everything here reads camelCase API JSON (what `kubectl get -o json` prints), so the tests feed it
objects built with the kubernetes client's model classes and serialised the way the client does.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from greenzone.deploy.workloads import not_ready_pods
from greenzone.health.observed import ClusterView, Obj
from greenzone.health.targets import Targets
from greenzone.preflight.facts_model import NvmlFacts
from greenzone.results import Check, Status, verdict

LAYER = "cluster"
_check = functools.partial(verdict, group=LAYER)
GPU_RESOURCE = "nvidia.com/gpu"
RESTARTS_WARN = 3
RESTART_WINDOW = datetime.timedelta(hours=1)
"""A container restarting repeatedly: this many restarts, the last one within this window."""
_PRESSURE = ("MemoryPressure", "DiskPressure", "PIDPressure", "NetworkUnavailable")
_VALIDATOR_LABEL = ("app", "nvidia-operator-validator")


def _condition(obj: Obj, kind: str) -> Mapping[str, Any] | None:
    for condition in (obj.get("status") or {}).get("conditions") or []:
        if condition.get("type") == kind:
            return condition  # type: ignore[no-any-return]
    return None


def _name(obj: Obj) -> str:
    return str((obj.get("metadata") or {}).get("name", "?"))


def _labels(obj: Obj) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _quantity(value: Any) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return 0


def _time(value: Any) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        return value
    if not value:
        return None
    try:
        return datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def api_check(view: ClusterView) -> Check:
    if view.error:
        return _check(
            "Kubernetes API",
            Status.FAIL,
            f"{view.server}: {view.error}",
            "on a server node: `systemctl status k3s` and `journalctl -u k3s -n 50`; "
            "the API must answer before anything else in the cluster can",
        )
    return _check("Kubernetes API", Status.PASS, f"{view.version} at {view.server}, answered in {view.seconds:.2f} s")


def node_checks(nodes: Sequence[Obj]) -> Check:
    if not nodes:
        return _check("nodes", Status.FAIL, "the cluster has no nodes", "`systemctl status k3s` on every node")
    down, pressed, cordoned = [], [], []
    for node in nodes:
        ready = _condition(node, "Ready")
        if not ready or ready.get("status") != "True":
            reason = f"{ready.get('reason', '')}: {ready.get('message', '')}" if ready else "no Ready condition"
            down.append(f"{_name(node)} NotReady ({reason.strip(': ')})")
        for kind in _PRESSURE:
            condition = _condition(node, kind)
            if condition and condition.get("status") == "True":
                pressed.append(f"{_name(node)} {kind}")
        if (node.get("spec") or {}).get("unschedulable"):
            cordoned.append(f"{_name(node)} cordoned")
    names = ", ".join(sorted(_name(node) for node in nodes))
    if down:
        return _check(
            "nodes",
            Status.FAIL,
            "; ".join(down + pressed),
            "on that node: `systemctl status k3s` (server) or `k3s-agent` (agent), its clock, disk and network",
        )
    if pressed or cordoned:
        return _check(
            "nodes",
            Status.WARN,
            "; ".join(pressed + cordoned),
            "free memory or disk on that node; `kubectl uncordon NODE` once maintenance is over",
        )
    return _check("nodes", Status.PASS, f"{len(nodes)} Ready: {names}")


def _is_gpu_node(node: Obj, local_names: Sequence[str], local_gpus: int) -> bool:
    capacity = (node.get("status") or {}).get("capacity") or {}
    return (
        _labels(node).get("nvidia.com/gpu.present") == "true"
        or GPU_RESOURCE in capacity
        or (_name(node) in local_names and local_gpus > 0)
    )


def gpu_allocatable_check(nodes: Sequence[Obj], targets: Targets, nvml: NvmlFacts | None) -> Check:
    """`nvidia.com/gpu` each GPU node offers, against what NVML sees on this node (times the
    time-slicing replicas); with MIG the device count differs by design, so only presence counts."""
    local_gpus = len(nvml.gpus) if nvml and nvml.state == "ok" else 0
    mig = bool(nvml and any(gpu.mig_current for gpu in nvml.gpus))
    gpu_nodes = [node for node in nodes if _is_gpu_node(node, targets.local_node_names, local_gpus)]
    if not gpu_nodes:
        return _check(
            "GPU allocatable",
            Status.FAIL,
            f"no node offers {GPU_RESOURCE} and none is labelled nvidia.com/gpu.present",
            f"the GPU operator has not set up any node: `kubectl -n {targets.operator_namespace} get pods`",
        )
    failing: list[str] = []
    warning: list[str] = []
    fine: list[str] = []
    for node in gpu_nodes:
        allocatable = (node.get("status") or {}).get("allocatable") or {}
        offered = _quantity(allocatable.get(GPU_RESOURCE))
        mig_devices = sum(_quantity(value) for key, value in allocatable.items() if key.startswith("nvidia.com/mig-"))
        name = _name(node)
        replicas = _quantity(_labels(node).get("nvidia.com/gpu.replicas")) or targets.time_slicing_replicas
        if name in targets.local_node_names and local_gpus and not mig:
            expected = local_gpus * replicas
            line = f"{name}: {offered} {GPU_RESOURCE}, NVML sees {local_gpus} GPU(s)" + (
                f" × {replicas} time-slicing replicas" if replicas > 1 else ""
            )
            (failing if offered < expected else warning if offered > expected else fine).append(line)
        elif offered + mig_devices == 0:
            failing.append(f"{name}: offers no {GPU_RESOURCE}")
        else:
            fine.append(f"{name}: {offered} {GPU_RESOURCE}" + (f", {mig_devices} MIG device(s)" if mig_devices else ""))
    if failing:
        return _check(
            "GPU allocatable",
            Status.FAIL,
            "; ".join(failing + warning + fine),
            f"the device plugin does not offer every GPU: `kubectl -n {targets.operator_namespace} logs "
            "ds/nvidia-device-plugin-daemonset`; a GPU with Xid errors or lost from the bus is withheld",
        )
    if warning:
        return _check(
            "GPU allocatable",
            Status.WARN,
            "; ".join(warning + fine),
            "more GPUs are offered than NVML sees: check the time-slicing config against gpu.time_slicing_replicas",
        )
    return _check("GPU allocatable", Status.PASS, "; ".join(fine))


def _failed_validations(pod: Obj) -> list[str]:
    status = pod.get("status") or {}
    failed = []
    for container in status.get("initContainerStatuses") or []:
        state = container.get("state") or {}
        terminated = state.get("terminated")
        if terminated and terminated.get("exitCode") == 0:
            continue
        waiting = state.get("waiting") or {}
        why = (
            f"exit {terminated.get('exitCode')}"
            if terminated
            else waiting.get("reason") or ("running" if state.get("running") else "not started")
        )
        failed.append(f"{container.get('name')} ({why})")
    return failed


def gpu_operator_check(view: ClusterView, targets: Targets) -> Check:
    remedy = (
        f"`kubectl -n {targets.operator_namespace} get pods` and the failing validator's log; "
        "re-run `greenzone deploy --phase gpu_operator` once the cause is fixed"
    )
    if view.cluster_policies is None:
        return _check(
            "GPU operator",
            Status.FAIL,
            "the ClusterPolicy resource does not exist: the operator is not installed",
            remedy,
        )
    if not view.cluster_policies:
        return _check("GPU operator", Status.FAIL, "no ClusterPolicy object: the operator has nothing to do", remedy)
    states = {
        _name(policy): str((policy.get("status") or {}).get("state", "unknown")) for policy in view.cluster_policies
    }
    validators = [
        pod
        for pod in view.pods.get(targets.operator_namespace, ())
        if _labels(pod).get(_VALIDATOR_LABEL[0]) == _VALIDATOR_LABEL[1]
    ]
    failed = [f"{_name(pod)}: {', '.join(found)}" for pod in validators if (found := _failed_validations(pod))]
    not_ready = [f"ClusterPolicy {name} is {state}" for name, state in states.items() if state != "ready"]
    if not_ready or failed:
        return _check("GPU operator", Status.FAIL, "; ".join(not_ready + failed), remedy)
    if not validators:
        return _check(
            "GPU operator",
            Status.WARN,
            "ClusterPolicy ready, but no validator pod ran (the validations prove driver, toolkit and CUDA)",
            remedy,
        )
    return _check(
        "GPU operator",
        Status.PASS,
        f"ClusterPolicy ready; validations passed on {len(validators)} node(s)",
    )


def _restarting(pods: Sequence[Obj], now: datetime.datetime) -> list[str]:
    found = []
    for pod in pods:
        for container in (pod.get("status") or {}).get("containerStatuses") or []:
            restarts = int(container.get("restartCount") or 0)
            last = ((container.get("lastState") or {}).get("terminated")) or {}
            finished = _time(last.get("finishedAt"))
            if restarts >= RESTARTS_WARN and finished and now - finished <= RESTART_WINDOW:
                why = last.get("reason") or f"exit {last.get('exitCode')}"
                found.append(f"{_name(pod)}/{container.get('name')}: {restarts} restarts, last {why}")
    return sorted(found)


def pod_checks(view: ClusterView, targets: Targets, now: datetime.datetime) -> Iterator[Check]:
    for namespace in targets.namespaces:
        name = f"pods in {namespace}"
        if namespace not in view.namespaces:
            yield _check(
                name,
                Status.FAIL,
                "the namespace does not exist",
                "re-run `greenzone install --answers FILE` (each phase is safe to repeat)",
            )
            continue
        pods = view.pods.get(namespace, ())
        stuck = not_ready_pods(pods)
        restarting = _restarting(pods, now)
        if stuck:
            yield _check(
                name,
                Status.FAIL,
                "; ".join(stuck + restarting),
                f"`kubectl -n {namespace} describe pod NAME` and `kubectl -n {namespace} logs NAME --previous`",
            )
        elif restarting:
            yield _check(
                name,
                Status.WARN,
                "; ".join(restarting),
                f"`kubectl -n {namespace} logs POD -c CONTAINER --previous` shows why it keeps stopping",
            )
        else:
            yield _check(name, Status.PASS, f"{len(pods)} pod(s), all ready" if pods else "no pods")


def cluster_checks(
    view: ClusterView, targets: Targets, nvml: NvmlFacts | None, now: datetime.datetime
) -> Iterator[Check]:
    yield api_check(view)
    if view.error:
        for name in ("nodes", "GPU allocatable", "GPU operator", "pods"):
            yield _check(name, Status.SKIP, "the Kubernetes API did not answer")
        return
    for problem in view.problems:
        yield _check(
            "cluster read",
            Status.WARN,
            problem,
            "the installer's kubeconfig lacks a permission, or the API is overloaded",
        )
    yield node_checks(view.nodes)
    yield gpu_allocatable_check(view.nodes, targets, nvml)
    yield gpu_operator_check(view, targets)
    yield from pod_checks(view, targets, now)

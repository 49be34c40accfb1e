"""Real-shaped Kubernetes objects for the health tests: built with the kubernetes client's model
classes and serialised by the client itself, so they carry the API's camelCase field names and
value types exactly as `kubectl get -o json` shows them.

`appliance_cluster()` is a healthy single-node appliance (GPU node, operator validated, every pod
Ready, egress denied in every zone namespace); tests break one thing at a time from there.
"""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any

from kubernetes import client

from greenzone.health.observed import ClusterView

_API = client.ApiClient()
NOW = datetime.datetime(2026, 11, 22, 3, 0, tzinfo=datetime.UTC)


def plain(obj: Any) -> Any:
    return _API.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]


def node(name: str, *, gpus: int = 1, ready: bool = True, labels: dict[str, str] | None = None) -> dict[str, Any]:
    conditions = [
        client.V1NodeCondition(type="MemoryPressure", status="False", reason="KubeletHasSufficientMemory"),
        client.V1NodeCondition(type="DiskPressure", status="False", reason="KubeletHasNoDiskPressure"),
        client.V1NodeCondition(
            type="Ready",
            status="True" if ready else "Unknown",
            reason="KubeletReady" if ready else "NodeStatusUnknown",
            message="kubelet is posting ready status" if ready else "Kubelet stopped posting node status.",
        ),
    ]
    resources = {"cpu": "32", "memory": "263856364Ki", "pods": "110"}
    gpu_labels = {"nvidia.com/gpu.present": "true", "nvidia.com/gpu.count": str(gpus)} if gpus else {}
    return plain(  # type: ignore[no-any-return]
        client.V1Node(
            api_version="v1",
            kind="Node",
            metadata=client.V1ObjectMeta(
                name=name, labels={"kubernetes.io/hostname": name, **gpu_labels, **(labels or {})}
            ),
            status=client.V1NodeStatus(
                capacity={**resources, **({"nvidia.com/gpu": str(gpus)} if gpus else {})},
                allocatable={**resources, **({"nvidia.com/gpu": str(gpus)} if gpus else {})},
                conditions=conditions,
            ),
        )
    )


def pod(
    name: str,
    namespace: str,
    *,
    ready: bool = True,
    waiting: str = "",
    restarts: int = 0,
    last: tuple[str, datetime.datetime] | None = None,
    labels: dict[str, str] | None = None,
    init: Mapping[str, int | None] | None = None,
) -> dict[str, Any]:
    """`init` maps init container names to their exit code (None: still waiting)."""
    state = (
        client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason=waiting, message=f"{waiting} message"))
        if waiting
        else client.V1ContainerState(running=client.V1ContainerStateRunning(started_at=NOW))
    )
    last_state = (
        client.V1ContainerState(
            terminated=client.V1ContainerStateTerminated(exit_code=137, reason=last[0], finished_at=last[1])
        )
        if last
        else client.V1ContainerState()
    )
    inits = [
        client.V1ContainerStatus(
            name=init_name,
            image="nvcr.io/nvidia/cloud-native/gpu-operator-validator:v25.10.1",
            image_id="",
            ready=code == 0,
            restart_count=0,
            state=client.V1ContainerState(
                terminated=client.V1ContainerStateTerminated(
                    exit_code=code, reason="Completed" if code == 0 else "Error"
                )
            )
            if code is not None
            else client.V1ContainerState(waiting=client.V1ContainerStateWaiting(reason="PodInitializing")),
        )
        for init_name, code in (init or {}).items()
    ]
    return plain(  # type: ignore[no-any-return]
        client.V1Pod(
            api_version="v1",
            kind="Pod",
            metadata=client.V1ObjectMeta(name=name, namespace=namespace, labels=labels or {"app": name}),
            status=client.V1PodStatus(
                phase="Running" if ready else "Pending",
                conditions=[
                    client.V1PodCondition(type="PodScheduled", status="True"),
                    client.V1PodCondition(type="Ready", status="True" if ready else "False"),
                ],
                init_container_statuses=inits or None,
                container_statuses=[
                    client.V1ContainerStatus(
                        name="main",
                        image=f"{name}:1",
                        image_id="",
                        ready=ready,
                        restart_count=restarts,
                        state=state,
                        last_state=last_state,
                    )
                ],
            ),
        )
    )


def network_policy(name: str, namespace: str, egress: list[client.V1NetworkPolicyEgressRule] | None) -> dict[str, Any]:
    return plain(  # type: ignore[no-any-return]
        client.V1NetworkPolicy(
            api_version="networking.k8s.io/v1",
            kind="NetworkPolicy",
            metadata=client.V1ObjectMeta(name=name, namespace=namespace),
            spec=client.V1NetworkPolicySpec(
                pod_selector=client.V1LabelSelector(), policy_types=["Egress"], egress=egress
            ),
        )
    )


def zone_policies(namespace: str) -> list[dict[str, Any]]:
    """What the guardrails chart creates in a zone namespace: deny all, then DNS to kube-dns."""
    dns = client.V1NetworkPolicyEgressRule(
        to=[
            client.V1NetworkPolicyPeer(
                namespace_selector=client.V1LabelSelector(match_labels={"kubernetes.io/metadata.name": "kube-system"}),
                pod_selector=client.V1LabelSelector(match_labels={"k8s-app": "kube-dns"}),
            )
        ],
        ports=[
            client.V1NetworkPolicyPort(protocol="UDP", port=53),
            client.V1NetworkPolicyPort(protocol="TCP", port=53),
        ],
    )
    return [
        network_policy("greenzone-default-deny-egress", namespace, None),
        network_policy("greenzone-allow-egress", namespace, [dns]),
    ]


def open_policy(namespace: str, cidr: str | None) -> dict[str, Any]:
    """A hand-made policy that reopens the zone: to a CIDR, or (None) to any destination."""
    peers = [client.V1NetworkPolicyPeer(ip_block=client.V1IPBlock(cidr=cidr))] if cidr else None
    return network_policy("let-me-out", namespace, [client.V1NetworkPolicyEgressRule(to=peers)])


def service(name: str, namespace: str, engine: str, cluster_ip: str, port: int, model: str = "") -> dict[str, Any]:
    return plain(  # type: ignore[no-any-return]
        client.V1Service(
            api_version="v1",
            kind="Service",
            metadata=client.V1ObjectMeta(
                name=name,
                namespace=namespace,
                labels={"greenzone.io/engine": engine},
                annotations={"greenzone.io/model": model} if model else None,
            ),
            spec=client.V1ServiceSpec(
                cluster_ip=cluster_ip, ports=[client.V1ServicePort(name="http", port=port, target_port="http")]
            ),
        )
    )


def namespace(name: str) -> dict[str, Any]:
    return plain(  # type: ignore[no-any-return]
        client.V1Namespace(
            api_version="v1",
            kind="Namespace",
            metadata=client.V1ObjectMeta(name=name, labels={"kubernetes.io/metadata.name": name}),
        )
    )


CLUSTER_POLICY = {
    "apiVersion": "nvidia.com/v1",
    "kind": "ClusterPolicy",
    "metadata": {"name": "cluster-policy"},
    "status": {"state": "ready", "namespace": "gpu-operator"},
}
VALIDATIONS = {"driver-validation": 0, "toolkit-validation": 0, "cuda-validation": 0, "plugin-validation": 0}
NAMESPACES = ("gpu-operator", "harbor", "monitoring", "greenzone-inference", "greenzone-system", "legal-dept")
ZONE = ("greenzone-inference", "legal-dept")


def appliance_cluster(node_name: str, *, engine_url: str = "http://10.43.0.20:11434") -> dict[str, list[Any]]:
    """A healthy appliance, by kind: what each list call of the API would return."""
    host, _, port = engine_url.rpartition("//")[2].partition(":")
    pods = [
        pod(
            "nvidia-operator-validator-x7k2p",
            "gpu-operator",
            labels={"app": "nvidia-operator-validator"},
            init=VALIDATIONS,
        ),
        pod("nvidia-device-plugin-daemonset-9qz4m", "gpu-operator"),
        pod("harbor-core-6d9f8c7b5-2xkq8", "harbor"),
        pod("harbor-registry-7c8d9f6b4-m5n2p", "harbor"),
        pod("kube-prometheus-stack-grafana-0", "monitoring"),
        pod("greenzone-inference-ollama-5f7d8c9b6-q2w3e", "greenzone-inference"),
        pod("greenzone-inference-chat-6b7c8d9e5-r4t5y", "greenzone-inference"),
    ]
    return {
        "nodes": [node(node_name)],
        "namespaces": [namespace(name) for name in (*NAMESPACES, "kube-system", "default")],
        "pods": pods,
        "policies": [policy for name in ZONE for policy in zone_policies(name)],
        "services": [service("greenzone-inference-ollama", "greenzone-inference", "ollama", host, int(port or 80))],
        "clusterpolicies": [CLUSTER_POLICY],
    }


def api_paths(cluster: Mapping[str, list[Any] | None], version: str = "v1.34.1+k3s1") -> dict[str, Any]:
    """The cluster as the API serves it, by request path (for the API stand-in)."""

    def listing(kind: str, items: list[Any]) -> dict[str, Any]:
        return {"kind": kind, "apiVersion": "v1", "metadata": {"resourceVersion": "1"}, "items": items}

    paths = {
        "/version": {"major": "1", "minor": "34", "gitVersion": version, "platform": "linux/amd64"},
        "/api/v1/nodes": listing("NodeList", cluster["nodes"] or []),
        "/api/v1/namespaces": listing("NamespaceList", cluster["namespaces"] or []),
        "/api/v1/pods": listing("PodList", cluster["pods"] or []),
        "/apis/networking.k8s.io/v1/networkpolicies": listing("NetworkPolicyList", cluster["policies"] or []),
        "/api/v1/namespaces/greenzone-inference/services": listing("ServiceList", cluster["services"] or []),
    }
    policies = cluster.get("clusterpolicies")
    if policies is not None:
        paths["/apis/nvidia.com/v1/clusterpolicies"] = listing("ClusterPolicyList", policies)
    return paths


def view(cluster: dict[str, list[Any]], server: str = "https://127.0.0.1:6443") -> ClusterView:
    """The same cluster as the cluster reader returns it, for the pure verdict tests."""

    def grouped(items: list[Any]) -> dict[str, tuple[Any, ...]]:
        found: dict[str, list[Any]] = {}
        for item in items:
            found.setdefault(item["metadata"]["namespace"], []).append(item)
        return {key: tuple(value) for key, value in found.items()}

    policies = cluster.get("clusterpolicies")
    return ClusterView(
        server,
        version="v1.34.1+k3s1",
        nodes=tuple(cluster["nodes"]),
        namespaces=frozenset(item["metadata"]["name"] for item in cluster["namespaces"]),
        pods=grouped(cluster["pods"]),
        network_policies=grouped(cluster["policies"]),
        services=tuple(cluster["services"]),
        cluster_policies=None if policies is None else tuple(policies),
    )

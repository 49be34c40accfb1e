"""The Kubernetes reads health needs, as raw API JSON (what `kubectl get -o json` shows).

Responses are parsed as JSON instead of the client's model classes: faster on a busy node, and the
verdicts see the objects exactly as the API serves them. urllib3's retries are off, so a dead API
costs one timeout, not four.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from greenzone.health.observed import ClusterView, Obj
from greenzone.health.readers.deadline import Deadline
from greenzone.health.targets import Targets

CALL_TIMEOUT = 5.0
PARALLEL = 6


class _Status(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status} {reason}")
        self.status = status


def reason(error: BaseException) -> str:
    if isinstance(error, _Status):
        return str(error)
    text = str(getattr(error, "reason", None) or error)
    if "timed out" in text.lower():
        return "no answer (timed out)"
    if "refused" in text.lower():
        return "connection refused (nothing listens there)"
    return text.split(": ", 1)[-1][:200]


def _configuration(kubeconfig: Path) -> Any:
    from kubernetes import client, config

    configuration = client.Configuration()
    config.load_kube_config(config_file=str(kubeconfig), client_configuration=configuration)  # type: ignore[no-untyped-call]
    return configuration


def kube_server(kubeconfig: Path) -> str:
    """The API server address a kubeconfig points at, for the k3s certificate check."""
    return str(_configuration(kubeconfig).host)


class KubeReads:
    """GETs against the appliance's API with the installer's kubeconfig, each bounded by the
    deadline; `error` says why none can be made (no kubeconfig, an unusable one)."""

    def __init__(self, targets: Targets, deadline: Deadline, *, parallel: int = PARALLEL) -> None:
        from kubernetes import client

        self.deadline = deadline
        self.server = str(targets.kubeconfig)
        self.error = ""
        self._api: Any = None
        if not targets.kubeconfig.is_file():
            self.error = "no kubeconfig here: the k3s phase of the install writes it"
            return
        try:
            configuration = _configuration(targets.kubeconfig)
        except Exception as error:  # the loader raises many types for one cause: an unusable file
            self.error = f"cannot use the kubeconfig {targets.kubeconfig}: {error} (the k3s phase writes it)"
            return
        if targets.kube_server:
            configuration.host = targets.kube_server
        configuration.retries = False
        # Reads go out together, each on a kept-alive connection of its own.
        configuration.connection_pool_maxsize = parallel
        self._api = client.ApiClient(configuration)
        self.server = str(configuration.host)

    def raw(self, path: str, accept: str = "application/json") -> bytes:
        timeout = self.deadline.timeout(CALL_TIMEOUT)
        method, url, headers, body, post = self._api.param_serialize(
            "GET", path, header_params={"Accept": accept}, auth_settings=["BearerToken"]
        )
        response = self._api.call_api(method, url, headers, body, post, _request_timeout=(timeout, timeout))
        data: bytes = response.read()
        if not 200 <= response.status < 300:
            raise _Status(response.status, str(response.reason))
        return data

    def json(self, path: str, accept: str = "application/json") -> Any:
        return json.loads(self.raw(path, accept))


def read_cluster(targets: Targets, deadline: Deadline) -> ClusterView:
    reads = KubeReads(targets, deadline)
    if reads.error:
        return ClusterView(reads.server, error=reads.error)
    server, get = reads.server, reads.json

    started = time.monotonic()
    try:
        version = get("/version")
    except Exception as error:
        return ClusterView(server, error=reason(error), seconds=time.monotonic() - started)
    seconds = time.monotonic() - started
    found: dict[str, str] = {}  # what -> the problem reading it; reads run at once, reported in order

    def items(path: str, what: str) -> list[Obj] | None:
        try:
            return list(get(path).get("items") or [])
        except Exception as error:
            found[what] = f"{what}: {reason(error)}"
            return None

    def by_namespace(objects: list[Obj] | None) -> dict[str, tuple[Obj, ...]]:
        grouped: dict[str, list[Obj]] = {}
        for obj in objects or []:
            grouped.setdefault(str(obj["metadata"].get("namespace", "")), []).append(obj)
        return {namespace: tuple(found) for namespace, found in grouped.items()}

    lists: dict[str, Callable[[], list[Obj] | None]] = {
        "nodes": lambda: items("/api/v1/nodes", "nodes"),
        "namespaces": lambda: items("/api/v1/namespaces", "namespaces"),
        "pods": lambda: items("/api/v1/pods", "pods"),
        "policies": lambda: items("/apis/networking.k8s.io/v1/networkpolicies", "network policies"),
        "services": lambda: items(f"/api/v1/namespaces/{targets.inference_namespace}/services", "services"),
    }

    def policies() -> tuple[Obj, ...] | None:
        try:
            return tuple(get("/apis/nvidia.com/v1/clusterpolicies").get("items") or [])
        except Exception as error:
            if getattr(error, "status", None) != 404:
                found["ClusterPolicy"] = f"ClusterPolicy: {reason(error)}"
            return None

    # All at once: a healthy run costs the slowest call, not the sum (each is bounded by the deadline).
    with ThreadPoolExecutor(PARALLEL) as pool:
        asked = {name: pool.submit(read) for name, read in lists.items()}
        cluster_policies = pool.submit(policies).result()
        got = {name: future.result() for name, future in asked.items()}
    order = ("nodes", "namespaces", "pods", "network policies", "services", "ClusterPolicy")
    problems = [found[what] for what in order if what in found]
    return ClusterView(
        server,
        seconds=seconds,
        version=str(version.get("gitVersion", "")),
        nodes=tuple(got["nodes"] or ()),
        namespaces=frozenset(str(ns["metadata"]["name"]) for ns in got["namespaces"] or ()),
        pods=by_namespace(got["pods"]),
        network_policies=by_namespace(got["policies"]),
        services=tuple(got["services"] or ()),
        cluster_policies=cluster_policies,
        problems=tuple(problems),
    )

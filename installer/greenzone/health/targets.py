"""What health looks at, derived from the answers the appliance was installed with (pure).

The install writes its answers and the bundle manifest into the state directory, so the operator
on call types `greenzone health` and nothing else. `--endpoint NAME=URL` replaces one address, for a
port-forward or a jump host where the appliance's names do not resolve.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenzone.answers.model import Answers
from greenzone.errors import InputError
from greenzone.preflight.facts_model import K3S_DATA_DIR
from greenzone.refs import mirror_repository
from greenzone.statedir import StateDir
from greenzone.values.gpu_operator import OPERATOR_NAMESPACE
from greenzone.values.ours import INFERENCE_NAMESPACE, MODEL_STORE_DIR
from greenzone.values.releases import appliance_releases

ENDPOINTS = {
    "registry": "the registry's base URL (Harbor), e.g. https://registry.ai.example:443",
    "inference": "the engine's base URL, e.g. http://127.0.0.1:11434 (default: its Service in the cluster)",
    "chat": "the chat UI's URL, e.g. https://ai.example/",
    "gateway": "the inference gateway's base URL, e.g. http://127.0.0.1:4000 (default: its Service in the cluster)",
    "kube": "the Kubernetes API server, e.g. https://127.0.0.1:6443 (default: the kubeconfig's)",
}


@dataclass(frozen=True)
class ExpectedImage:
    ref: str
    repository: str
    digest: str


@dataclass(frozen=True)
class Targets:
    local_node: bool
    local_node_names: tuple[str, ...]
    driver: str
    time_slicing_replicas: int
    kubeconfig: Path
    kube_server: str | None
    namespaces: tuple[str, ...]
    """Greenzone's namespaces: every release's and every department's."""
    zone_namespaces: tuple[str, ...]
    """Namespaces that must deny egress: the inference namespace and every department's."""
    egress: str
    allow_cidrs: tuple[str, ...]
    operator_namespace: str
    inference_namespace: str
    registry_url: str
    harbor_projects: tuple[str, ...]
    images: tuple[ExpectedImage, ...]
    engine: str
    models: tuple[str, ...]
    inference_url: str | None
    """None: found through the engine's Service in the cluster."""
    gateway_url: str | None
    """None: found through the gateway's Service in the cluster (when the release has one)."""
    departments: tuple[str, ...]
    """The departments' names: each is a tenant of the gateway with its own key."""
    chat_url: str | None
    credentials_file: Path
    ca_file: Path
    disks: tuple[tuple[str, Path], ...]


def parse_endpoints(values: Sequence[str]) -> dict[str, str]:
    """`NAME=URL` options -> {name: url}, refusing unknown names and URLs without a scheme."""
    found: dict[str, str] = {}
    for value in values:
        name, sep, url = value.partition("=")
        if not sep or name not in ENDPOINTS:
            known = ", ".join(f"{key} ({text})" for key, text in ENDPOINTS.items())
            raise InputError(f"--endpoint {value!r} is not NAME=URL with a known NAME", hint=f"names: {known}")
        if "://" not in url:
            raise InputError(
                f"--endpoint {name}={url!r} has no scheme", hint="write http://HOST:PORT or https://HOST:PORT"
            )
        found[name] = url.rstrip("/") if name != "chat" else url
    return found


def health_targets(
    answers: Answers,
    state: StateDir,
    images: Sequence[tuple[str, str]],
    endpoints: Mapping[str, str],
    *,
    hostname: str,
) -> Targets:
    """`images` are the bundle's (ref, digest) pairs; `hostname` is this machine's name, which a local
    node without a `name` gets as its Kubernetes node name."""
    port = "" if answers.registry.port == 443 else f":{answers.registry.port}"
    expected = tuple(ExpectedImage(ref, mirror_repository(ref)[0], digest) for ref, digest in sorted(set(images)))
    departments = tuple(department.namespace_name for department in answers.departments)
    release_namespaces = tuple(release.namespace for release in appliance_releases(answers))
    local = [node for node in answers.nodes if node.address == "local"]
    return Targets(
        local_node=bool(local),
        local_node_names=tuple(node.name or hostname for node in local),
        driver=answers.gpu.driver,
        time_slicing_replicas=answers.gpu.time_slicing_replicas,
        kubeconfig=state.kubeconfig,
        kube_server=endpoints.get("kube"),
        namespaces=tuple(dict.fromkeys([*release_namespaces, *departments])),
        zone_namespaces=(INFERENCE_NAMESPACE, *departments),
        egress=answers.green_zone.egress,
        allow_cidrs=tuple(str(cidr) for cidr in answers.green_zone.allow_cidrs),
        operator_namespace=OPERATOR_NAMESPACE,
        inference_namespace=INFERENCE_NAMESPACE,
        registry_url=endpoints.get("registry", f"https://{answers.registry_hostname()}{port}"),
        harbor_projects=tuple(sorted({image.repository.split("/")[0] for image in expected})),
        images=expected,
        engine=answers.inference.engine,
        models=tuple(answers.inference.models),
        inference_url=endpoints.get("inference"),
        gateway_url=endpoints.get("gateway"),
        departments=tuple(department.name for department in answers.departments),
        chat_url=endpoints.get("chat", f"https://{answers.network.hostname}/") if answers.inference.chat_ui else None,
        credentials_file=state.credentials,
        ca_file=state.ca_certificate,
        disks=(("k3s data dir", K3S_DATA_DIR), ("model store", Path(MODEL_STORE_DIR))),
    )


def gateway_endpoint(services: Sequence[Mapping[str, Any]], targets: Targets) -> str | None:
    """The gateway's base URL: `--endpoint gateway=URL`, else its Service (component `gateway`); None
    for an appliance installed before the gateway, or when `--endpoint inference=URL` names an engine."""
    if targets.gateway_url or targets.inference_url:
        return targets.gateway_url
    for service in services:
        metadata = service.get("metadata") or {}
        if (metadata.get("labels") or {}).get("app.kubernetes.io/component") != "gateway":
            continue
        spec = service.get("spec") or {}
        address, ports = spec.get("clusterIP"), spec.get("ports") or []
        if address and address != "None" and ports:
            return f"http://{address}:{ports[0].get('port')}"
    return None


def engine_endpoints(services: Sequence[Mapping[str, Any]], targets: Targets) -> tuple[dict[str, str], str]:
    """Base URL per configured model from the engine's Services (`greenzone.io/engine` label; vLLM's
    carry their model in the `greenzone.io/model` annotation), and why none was found if so."""
    if targets.inference_url:
        return dict.fromkeys(targets.models, targets.inference_url), ""
    found: dict[str, str] = {}
    for service in services:
        metadata = service.get("metadata") or {}
        if (metadata.get("labels") or {}).get("greenzone.io/engine") != targets.engine:
            continue
        spec = service.get("spec") or {}
        ports = [port for port in spec.get("ports") or [] if port.get("name") == "http"] or spec.get("ports") or []
        address = spec.get("clusterIP")
        if not ports or not address or address == "None":
            continue
        url = f"http://{address}:{ports[0].get('port')}"
        if targets.engine == "ollama":
            found.update(dict.fromkeys(targets.models, url))
        else:
            model = (metadata.get("annotations") or {}).get("greenzone.io/model")
            if model:
                found[model] = url
    if not found:
        return {}, (
            f"no {targets.engine} Service in namespace {targets.inference_namespace} "
            "(label greenzone.io/engine): the inference release is not installed"
        )
    return found, ""

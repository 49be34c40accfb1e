"""What one side (on-prem or cloud) runs, in a shape both a live cluster and rendered manifests can
fill, so parity compares like with like (pure).

A container is named by its workload (`Deployment/greenzone-inference/ollama`) and container name,
and carries the upstream image reference (the cloud prefix removed) and the digest it runs: the
digest is what makes two sides the same, the reference only says which image it is meant to be.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from greenzone.images import CONTAINER_LISTS, pod_spec
from greenzone.sync.mirror import split_digest


@dataclass(frozen=True)
class Container:
    workload: str
    container: str
    ref: str
    """Upstream reference, qualified, without digest."""
    digest: str = ""
    """What runs (or would run); empty when the side cannot tell."""


@dataclass(frozen=True)
class ReleaseView:
    name: str
    namespace: str
    chart: str
    version: str
    values: Mapping[str, Any] = field(default_factory=dict)
    containers: tuple[Container, ...] = ()


@dataclass(frozen=True)
class SideView:
    label: str
    """`on-prem` or `cloud`."""
    source: str
    """Where the facts came from, for the report: a kubeconfig context, or a directory of manifests."""
    releases: Mapping[str, ReleaseView]


def workload_name(obj: Mapping[str, Any], default_namespace: str) -> str:
    metadata = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{metadata.get('namespace') or default_namespace}/{metadata.get('name')}"


def is_hook(obj: Mapping[str, Any]) -> bool:
    """Helm hooks (tests, pre-install jobs) run now and then, not all the time; Helm stores them apart
    from the release's manifest, so neither side counts them as running workloads."""
    return "helm.sh/hook" in ((obj.get("metadata") or {}).get("annotations") or {})


def containers_of(
    objects: Iterable[Mapping[str, Any]],
    namespace: str,
    upstream: Callable[[str], str],
    digest_of: Callable[[str, str], str],
) -> tuple[Container, ...]:
    """Every container of every pod-bearing object but hooks, its image mapped back to upstream.

    `digest_of(image as written, upstream ref)` says which digest runs: the one pinned in the
    reference, the bundle's for a tag, or what a pod's status reports.
    """
    found = []
    for obj in objects:
        pod = pod_spec(obj)
        if pod is None or is_hook(obj):
            continue
        workload = workload_name(obj, namespace)
        for key in CONTAINER_LISTS:
            for container in pod.get(key) or []:
                image = str(container.get("image") or "")
                if not image:
                    continue
                ref = upstream(image)
                found.append(Container(workload, str(container.get("name", "")), ref, digest_of(image, ref)))
    return tuple(sorted(found, key=lambda item: (item.workload, item.container)))


def pinned_or(lookup: Mapping[str, str]) -> Callable[[str, str], str]:
    """The digest written in the reference, else the one `lookup` (upstream ref -> digest) gives."""

    def digest_of(image: str, ref: str) -> str:
        return split_digest(image)[1] or lookup.get(ref, "")

    return digest_of

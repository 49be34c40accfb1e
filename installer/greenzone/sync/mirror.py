"""Where the bundle's charts and images live in the cloud registry, and rendered objects rewritten to
pull from there by digest (pure).

On site, k3s's registries.yaml mirrors every upstream registry to Harbor, so charts keep their
upstream image references. A managed cloud cluster (EKS, GKE, AKS) has no such mirror, so the cloud
copy rewrites each reference to the cloud registry and pins it to the digest the bundle holds: the
cloud then runs the very bytes the appliance runs, whatever happens to tags later.

The rewrite visits the places `greenzone.images` reads images from (pod templates, `--flag=image`
arguments, custom resources' `image:` fields, the GPU operator's ClusterPolicy), so everything that
was listed for the bundle is also pulled from the cloud registry.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from greenzone.images import CONTAINER_LISTS, component_enabled, image_in_arg, is_image_field, pod_spec
from greenzone.refs import mirror_repository, qualify

_HOST = re.compile(r"^([a-z0-9]([a-z0-9.-]*[a-z0-9])?|\[[0-9a-f:]+\])(:[0-9]{1,5})?$", re.IGNORECASE)
_PATH = re.compile(r"^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$")


def registry_problem(value: str) -> str | None:
    """Why `value` is not `host[:port][/path]`, or None; written for the target file's error."""
    if "://" in value:
        return "write the registry without a scheme (https is used; plain http only on loopback without a ca_file)"
    host, _, path = value.partition("/")
    if not _HOST.match(host):
        return f"{host!r} is not a registry host name (with an optional :port)"
    if path and not _PATH.match(path):
        return f"{path!r} is not a repository path (lower-case words separated by /)"
    return None


@dataclass(frozen=True)
class CloudRegistry:
    """`host[:port][/prefix]`: e.g. `123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenzone`."""

    host: str
    prefix: str = ""

    @classmethod
    def parse(cls, value: str) -> CloudRegistry:
        host, _, prefix = value.strip().rstrip("/").partition("/")
        return cls(host, prefix)

    def _join(self, *parts: str) -> str:
        return "/".join(part for part in (self.prefix, *parts) if part)

    def repository(self, ref: str) -> tuple[str, str]:
        """(repository inside the registry, tag) for an upstream image: Harbor's layout under the prefix,
        so `docker.io/ollama/ollama:0.6.5` becomes `<prefix>/docker.io/ollama/ollama`, tag `0.6.5`."""
        repository, tag = mirror_repository(ref)
        return self._join(repository), tag

    def chart_repository(self, chart: str) -> str:
        return self._join("charts", chart)

    def chart_oci(self) -> str:
        """What `helm push` takes: the chart's name is appended by helm."""
        return f"oci://{self.host}/{self._join('charts')}"

    def image(self, ref: str, digest: str) -> str:
        """A pull reference that keeps the upstream tag for people and the digest for the kubelet."""
        repository, tag = self.repository(ref)
        tag_part = "" if tag.startswith("sha256:") else f":{tag}"
        return f"{self.host}/{repository}{tag_part}@{digest}"

    def upstream(self, image: str) -> str:
        """The upstream reference behind a cloud pull reference (digest dropped); others unchanged."""
        lead = f"{self.host}/{self._join()}/" if self.prefix else f"{self.host}/"
        name = image.partition("@")[0]
        if name.startswith(lead):
            return qualify(name[len(lead) :])
        return qualify(name)


def split_digest(image: str) -> tuple[str, str]:
    """`repo:tag@sha256:...` -> (`repo:tag`, `sha256:...`); no digest gives ''."""
    name, _, digest = image.partition("@")
    return name, digest


@dataclass(frozen=True)
class Rewritten:
    objects: list[dict[str, Any]]
    missing: tuple[str, ...]
    """Images the objects run that the bundle does not hold: the cloud could not pull them."""


def rewrite_images(
    objects: Iterable[Mapping[str, Any]], registry: CloudRegistry, digests: Mapping[str, str]
) -> Rewritten:
    """Copies of `objects` whose images are pulled from `registry` by the bundle's digest.

    `digests` maps qualified upstream references (`docker.io/ollama/ollama:0.6.5`) to the digest in
    the bundle's layout.
    """
    missing: set[str] = set()

    def to_cloud(ref: str) -> str:
        qualified = qualify(ref)
        name, pinned = split_digest(qualified)
        digest = digests.get(qualified) or digests.get(name) or pinned
        if not digest or (pinned and pinned != digest):
            missing.add(qualified)
            return ref
        return registry.image(name, digest)

    out = [copy.deepcopy(dict(obj)) for obj in objects]
    for obj in out:
        pod = pod_spec(obj)
        if pod is not None:
            _rewrite_pod(dict(pod), to_cloud)
        elif obj.get("kind") == "ClusterPolicy":
            _rewrite_cluster_policy(obj.get("spec") or {}, registry, digests, missing)
        elif "." in str(obj.get("apiVersion", "")).split("/")[0]:
            _rewrite_image_fields(obj.get("spec") or {}, to_cloud)
    return Rewritten(out, tuple(sorted(missing)))


def _rewrite_pod(pod: dict[str, Any], to_cloud: Callable[[str], str]) -> None:
    for key in CONTAINER_LISTS:
        for container in pod.get(key) or []:
            if container.get("image"):
                container["image"] = to_cloud(str(container["image"]))
            for field in ("args", "command"):
                values = container.get(field)
                if not values:
                    continue
                rewritten = []
                for arg in values:
                    if found := image_in_arg(arg):
                        arg = f"{found[0]}={to_cloud(found[1])}"
                    rewritten.append(arg)
                container[field] = rewritten


def _rewrite_image_fields(value: Any, to_cloud: Callable[[str], str]) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if is_image_field(key, item):
                value[key] = to_cloud(item)
            else:
                _rewrite_image_fields(item, to_cloud)
    elif isinstance(value, list):
        for item in value:
            _rewrite_image_fields(item, to_cloud)


def _rewrite_component(
    component: dict[str, Any],
    registry: CloudRegistry,
    digests: Mapping[str, str],
    missing: set[str] | None,
    *,
    pin: bool,
) -> None:
    """`missing` is None for components the operator will not start: rewritten, never required."""
    repository, image, version = component.get("repository"), component.get("image"), component.get("version")
    if not image:
        return
    upstream = f"{repository}/{image}" if repository else str(image)
    cloud_repository, _ = registry.repository(f"{upstream}:x")
    parent, _, leaf = cloud_repository.rpartition("/")
    component["repository"], component["image"] = f"{registry.host}/{parent}", leaf
    if not pin or not version or str(version).startswith("sha256:"):
        return
    ref = qualify(f"{upstream}:{version}")
    if ref in digests:
        component["version"] = digests[ref]
    elif missing is not None:
        missing.add(ref)


def _rewrite_cluster_policy(
    spec: dict[str, Any], registry: CloudRegistry, digests: Mapping[str, str], missing: set[str]
) -> None:
    """The operator starts these images later from `repository/image:version`; a digest may stand for
    the version, except the driver's, to which the operator appends the node's OS."""
    sandbox = bool((spec.get("sandboxWorkloads") or {}).get("enabled"))
    for name, component in spec.items():
        if not isinstance(component, dict) or name == "sandboxWorkloads":
            continue
        if name == "operator":
            init = component.get("initContainer")
            if isinstance(init, dict):
                _rewrite_component(init, registry, digests, missing, pin=True)
            continue
        wanted = missing if component_enabled(name, component, sandbox=sandbox) else None
        _rewrite_component(component, registry, digests, wanted, pin=name != "driver")
        manager = component.get("manager")
        if name == "driver" and isinstance(manager, dict):
            _rewrite_component(manager, registry, digests, wanted, pin=True)


def host_path_workloads(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Workloads that mount a node directory: on a managed cluster the data stays on one node and a
    `baseline` Pod Security admission refuses them."""
    found = []
    for obj in objects:
        pod = pod_spec(obj)
        if pod is not None and any("hostPath" in (volume or {}) for volume in pod.get("volumes") or []):
            metadata = obj.get("metadata") or {}
            found.append(f"{obj.get('kind')}/{metadata.get('name')}")
    return sorted(found)

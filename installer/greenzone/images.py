"""Which container images a set of rendered Kubernetes objects will run (pure).

Most images sit in pod templates. Two kinds of chart hide theirs elsewhere and are read on purpose:
the GPU operator's ClusterPolicy names the images its operator will start later (the driver's tag
gets the node's OS appended at run time), and operators such as prometheus-operator take images as
`--flag=image` arguments or as `image:` fields of their custom resources. Missing one of those
would leave a pod in ImagePullBackOff on an appliance that cannot reach the internet.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from greenzone.refs import qualify
from greenzone.results import Check, Status

_POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "ReplicationController"}
CONTAINER_LISTS = ("initContainers", "containers", "ephemeralContainers")

# An image reference with an explicit registry host (a dot or a port) and a tag or digest.
_QUALIFIED_REF = re.compile(
    r"^[a-z0-9]+([.-][a-z0-9]+)*(\.[a-z0-9]+|:[0-9]+)(/[a-z0-9]+([._-][a-z0-9]+)*)+(:[\w][\w.-]{0,127}|@sha256:[0-9a-f]{64})$"
)

DRIVER_OS_TAGS = ("ubuntu22.04", "ubuntu24.04", "ubuntu26.04")
"""OS suffixes the GPU operator appends to the driver's version on the appliance's supported OSes."""

# ClusterPolicy components that run only for sandbox (VM passthrough) workloads.
_SANDBOX_COMPONENTS = {
    "vgpuManager",
    "vgpuDeviceManager",
    "vfioManager",
    "sandboxDevicePlugin",
    "kataManager",
    "ccManager",
}
# Components whose `enabled` is optional and means on when absent.
_ON_BY_DEFAULT = {"toolkit", "devicePlugin", "dcgmExporter", "gfd", "validator", "migManager", "driver"}


def pod_spec(obj: Mapping[str, Any]) -> Mapping[str, Any] | None:
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind in _POD_TEMPLATE_KINDS:
        return (spec.get("template") or {}).get("spec")
    if kind == "CronJob":
        return (((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}).get("spec")
    return None


def image_in_arg(arg: object) -> tuple[str, str] | None:
    """(`--flag`, image) for an operator argument that names an image, e.g. `--prometheus-config-reloader=...`.

    The one rule for both listing the images (the bundle) and rewriting them (the cloud copy)."""
    flag, equals, value = str(arg).partition("=")
    # `--thanos-default-base-image=...`: a fallback for a feature a custom resource must ask for;
    # the resources' own `image:` fields are read where they are.
    if equals and _QUALIFIED_REF.match(value) and not flag.endswith("default-base-image"):
        return flag, value
    return None


def is_image_field(key: object, value: object) -> bool:
    """`image: <qualified ref>` in a custom resource (Prometheus, Alertmanager...)."""
    return key == "image" and isinstance(value, str) and bool(_QUALIFIED_REF.match(value))


def _container_images(pod: Mapping[str, Any]) -> Iterator[str]:
    for key in CONTAINER_LISTS:
        for container in pod.get(key) or []:
            if container.get("image"):
                yield str(container["image"])
            for arg in [*(container.get("args") or []), *(container.get("command") or [])]:
                if found := image_in_arg(arg):
                    yield found[1]


def _component_ref(component: Mapping[str, Any]) -> str | None:
    repository, image, version = component.get("repository"), component.get("image"), component.get("version")
    if not image:
        return None
    ref = f"{repository}/{image}" if repository else str(image)
    if version:
        separator = "@" if str(version).startswith("sha256:") else ":"
        ref = f"{ref}{separator}{version}"
    return ref


def component_enabled(name: str, component: Mapping[str, Any], *, sandbox: bool) -> bool:
    """Whether the GPU operator will start this ClusterPolicy component."""
    if name in _SANDBOX_COMPONENTS and not sandbox:
        return False
    return bool(component.get("enabled", name in _ON_BY_DEFAULT))


def _cluster_policy_images(spec: Mapping[str, Any]) -> Iterator[str]:
    sandbox = bool((spec.get("sandboxWorkloads") or {}).get("enabled"))
    for name, component in spec.items():
        if not isinstance(component, Mapping) or name in ("operator", "sandboxWorkloads"):
            continue
        if not component_enabled(name, component, sandbox=sandbox):
            continue
        ref = _component_ref(component)
        if ref is None:
            continue
        if name == "driver":
            # A precompiled driver's tag is `<branch>-<node's kernel>-<os>`, known only per node: the
            # lock pins one per kernel of the fleet and preflight checks each GPU node against them.
            if not component.get("usePrecompiled"):
                yield from (f"{ref}-{os_tag}" for os_tag in DRIVER_OS_TAGS)
            manager = component.get("manager")
            if isinstance(manager, Mapping) and (manager_ref := _component_ref(manager)):
                yield manager_ref
        else:
            yield ref
    init = (spec.get("operator") or {}).get("initContainer")
    if isinstance(init, Mapping) and (init_ref := _component_ref(init)):
        yield init_ref


def _image_fields(value: Any) -> Iterator[str]:
    """`image: <qualified ref>` anywhere in a custom resource (Prometheus, Alertmanager...)."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if is_image_field(key, item):
                yield item
            else:
                yield from _image_fields(item)
    elif isinstance(value, list):
        for item in value:
            yield from _image_fields(item)


def images_of(objects: Iterable[Mapping[str, Any]]) -> list[str]:
    """Sorted, normalized, de-duplicated image references of these objects."""
    found: set[str] = set()
    for obj in objects:
        pod = pod_spec(obj)
        if pod is not None:
            found.update(_container_images(pod))
        elif obj.get("kind") == "ClusterPolicy":
            found.update(_cluster_policy_images(obj.get("spec") or {}))
        elif "." in str(obj.get("apiVersion", "")).split("/")[0]:
            found.update(_image_fields(obj.get("spec") or {}))
    return sorted(qualify(ref) for ref in found)


def tagged_latest(ref: str) -> bool:
    """No tag, or a moving tag: the appliance could not tell which bytes it runs."""
    name = ref.rsplit("/", 1)[-1]
    if "@sha256:" in name:
        return False
    tag = name.partition(":")[2]
    return tag in ("", "latest", "main", "master")


def judge(component: str, refs: Iterable[str], pinned: Iterable[str]) -> list[Check]:
    """Every image a component runs must be pinned in the lock, by a fixed tag or a digest."""
    refs = sorted(set(refs))
    locked = {qualify(ref) for ref in pinned}
    moving = [ref for ref in refs if tagged_latest(ref)]
    missing = [ref for ref in refs if ref not in locked and ref not in moving]
    checks: list[Check] = []
    if moving:
        checks.append(
            Check(
                f"{component}: fixed tags",
                Status.FAIL,
                f"moving or missing tag: {', '.join(moving)}",
                "set a version tag (or digest) for it in the chart's values",
                group="images",
            )
        )
    if missing:
        checks.append(
            Check(
                f"{component}: pinned in the lock",
                Status.FAIL,
                f"{len(missing)} of {len(refs)} images are not in the lock: {', '.join(missing)}",
                "add each to `images:` in airgap/bundle.lock.yaml, then run `greenzone bundle lock --update`",
                group="images",
            )
        )
    if not checks:
        checks.append(
            Check(f"{component}: pinned in the lock", Status.PASS, f"all {len(refs)} images pinned", group="images")
        )
    return checks

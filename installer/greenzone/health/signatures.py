"""Known failure signatures across what health reads (pure): the pod that cannot pull an image
Harbor lacks, the engine killed for memory or crash-looping, a node whose clock runs ahead.

`judge` runs them on every health run and `support-bundle analyze` on the views a support bundle
recorded: one copy, so the vendor reads the same verdict and remedy the site would have.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator, Sequence

from greenzone.health.observed import ClusterView, Obj, RegistryView
from greenzone.health.targets import Targets
from greenzone.refs import mirror_repository
from greenzone.results import Check, Status

LAYER = "cluster"
PULL_REASONS = frozenset({"ImagePullBackOff", "ErrImagePull", "ErrImageNeverPull", "InvalidImageName"})
CLOCK_AHEAD = datetime.timedelta(seconds=60)
"""A kubelet's heartbeat this far in the future of the reader's clock: one of the two clocks is wrong."""


def container_statuses(pod: Obj) -> list[Obj]:
    """Every container's status of a pod, init containers first."""
    status = pod.get("status") or {}
    return [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]


def _pod_name(pod: Obj) -> str:
    metadata = pod.get("metadata") or {}
    return f"{metadata.get('namespace', '')}/{metadata.get('name', '')}"


def _repository(image: str) -> str:
    """The repository an image reference is mirrored to in Harbor, or the reference as written."""
    try:
        return mirror_repository(image.split("@")[0])[0]
    except ValueError:
        return image


def image_pull_checks(cluster: ClusterView | None, registry: RegistryView | None) -> Iterator[Check]:
    """One check per image some pod cannot pull, saying whether Harbor lacks it."""
    if cluster is None or cluster.error:
        return
    failing: dict[str, list[str]] = {}
    messages: dict[str, str] = {}
    for in_namespace in cluster.pods.values():
        for pod in in_namespace:
            for container in container_statuses(pod):
                waiting = (container.get("state") or {}).get("waiting") or {}
                if waiting.get("reason") in PULL_REASONS:
                    image = str(container.get("image") or "?")
                    failing.setdefault(image, []).append(_pod_name(pod))
                    messages.setdefault(image, str(waiting.get("message") or waiting.get("reason")))
    known = {image.repository: image for image in (registry.images if registry else ())}
    for image, pods in sorted(failing.items()):
        presence = known.get(_repository(image))
        if presence is not None and presence.present is False:
            detail = f"{', '.join(sorted(pods))} cannot pull {image}: Harbor does not have it"
            remedy = "push the bundle's images again: `greenzone deploy --answers FILE --phase registry --rerun`"
        else:
            detail = f"{', '.join(sorted(pods))} cannot pull {image}: {messages[image][:300]}"
            remedy = (
                "every image must come from the appliance's Harbor (the bundle's images): check the image "
                "name, `greenzone health --layer registry`, and the node's /etc/rancher/k3s/registries.yaml"
            )
        yield Check(f"image pull {image}", Status.FAIL, detail, remedy, LAYER)


def crash_checks(cluster: ClusterView | None, targets: Targets) -> Iterator[Check]:
    """Containers killed for memory, and containers in CrashLoopBackOff, with the remedy each needs."""
    if cluster is None or cluster.error:
        return
    for namespace in targets.namespaces:
        for pod in cluster.pods.get(namespace, ()):
            for container in container_statuses(pod):
                name = f"{_pod_name(pod)}/{container.get('name')}"
                last = (container.get("lastState") or {}).get("terminated") or {}
                now = (container.get("state") or {}).get("terminated") or {}
                waiting = (container.get("state") or {}).get("waiting") or {}
                engine = namespace == targets.inference_namespace
                if "OOMKilled" in (last.get("reason"), now.get("reason")):
                    yield Check(
                        f"out of memory {name}",
                        Status.FAIL,
                        f"{name} was killed for using more memory than its limit "
                        f"({int(container.get('restartCount') or 0)} restarts)",
                        "the model or its context is too big for the pod's memory limit: choose a smaller model "
                        "or context, or raise the engine's memory in the answers' inference section"
                        if engine
                        else "raise this workload's memory limit, or free memory on the node",
                        LAYER,
                    )
                elif waiting.get("reason") == "CrashLoopBackOff":
                    yield Check(
                        f"crash loop {name}",
                        Status.FAIL,
                        f"{name} keeps exiting ({last.get('reason') or 'exit ' + str(last.get('exitCode'))}, "
                        f"{int(container.get('restartCount') or 0)} restarts)",
                        f"`kubectl -n {namespace} logs {_pod_name(pod).split('/')[1]} -c {container.get('name')} "
                        "--previous` says why; `greenzone support-bundle` collects it for the vendor",
                        LAYER,
                    )


def clock_checks(nodes: Sequence[Obj], now: datetime.datetime) -> Iterator[Check]:
    """A node whose kubelet reports from the future: its clock (or this machine's) is off, which
    breaks certificates and token expiry long before anything else says so."""
    ahead = []
    for node in nodes:
        for condition in (node.get("status") or {}).get("conditions") or []:
            if condition.get("type") != "Ready" or not condition.get("lastHeartbeatTime"):
                continue
            try:
                beat = datetime.datetime.fromisoformat(str(condition["lastHeartbeatTime"]).replace("Z", "+00:00"))
            except ValueError:
                continue
            if beat - now > CLOCK_AHEAD:
                name = (node.get("metadata") or {}).get("name", "?")
                ahead.append(f"{name} is {int((beat - now).total_seconds())} s ahead")
    if ahead:
        yield Check(
            "clock skew",
            Status.FAIL,
            "; ".join(ahead) + " of the clock that read the cluster",
            "synchronise every node's clock with the site's time server (`timedatectl`, chrony); "
            "certificates and tokens fail when clocks disagree",
            LAYER,
        )

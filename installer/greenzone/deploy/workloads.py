"""Verdicts the release roles need, over plain data (pure): is a release already what we want, and
which pods keep a release from being ready.

The helm and Kubernetes adapters only fetch; deciding lives here so it is tested on real-shaped
objects without a cluster.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any, Literal

Action = Literal["install", "upgrade", "none"]


def release_action(
    current: Mapping[str, Any] | None, chart_version: str, values: Mapping[str, Any]
) -> tuple[Action, str]:
    """What helm must do, and why. `current` is {status, chart_version, values} of the deployed
    revision, or None when the release does not exist. Only a deployed revision with the same chart
    version and the same values is left alone; a failed or pending one is upgraded again."""
    if current is None:
        return "install", "not installed"
    reasons = []
    if current.get("status") != "deployed":
        reasons.append(f"status is {current.get('status')}")
    if current.get("chart_version") != chart_version:
        reasons.append(f"chart {current.get('chart_version')} -> {chart_version}")
    if dict(current.get("values") or {}) != dict(values):
        changed = sorted(
            key
            for key in set(current.get("values") or {}) | set(values)
            if (current.get("values") or {}).get(key) != values.get(key)
        )
        reasons.append(f"values differ under {', '.join(changed)}")
    return ("upgrade", "; ".join(reasons)) if reasons else ("none", "up to date")


def _waiting_reason(status: Mapping[str, Any]) -> str:
    for container in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        if waiting.get("reason") and waiting["reason"] != "PodInitializing":
            message = waiting.get("message", "")
            return f"{container.get('name')}: {waiting['reason']}" + (f" ({message[:160]})" if message else "")
        terminated = state.get("terminated") or {}
        if terminated and terminated.get("exitCode", 0) != 0:
            return f"{container.get('name')}: exited {terminated.get('exitCode')} ({terminated.get('reason', '')})"
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return f"unschedulable: {condition.get('message', condition.get('reason', ''))}"
    return str(status.get("phase", "unknown"))


def not_ready_pods(pods: Sequence[Mapping[str, Any]]) -> list[str]:
    """`name: reason` for each pod that is neither Ready nor a finished job pod."""
    found = []
    for pod in pods:
        status = pod.get("status") or {}
        if status.get("phase") == "Succeeded":
            continue
        ready = any(
            condition.get("type") == "Ready" and condition.get("status") == "True"
            for condition in status.get("conditions") or []
        )
        if not ready:
            found.append(f"{pod['metadata']['name']}: {_waiting_reason(status)}")
    return sorted(found)


def secret_differs(existing: Mapping[str, Any] | None, wanted: Mapping[str, Any]) -> bool:
    """Whether `wanted` (stringData) differs from the live Secret (base64 `data`)."""
    if existing is None:
        return True
    data = {key: base64.b64decode(value).decode() for key, value in (existing.get("data") or {}).items()}
    return data != dict(wanted.get("stringData") or {}) or existing.get("type") != wanted.get("type")

"""Values for NVIDIA's gpu-operator chart, tuned for k3s.

Keys checked against the gpu-operator chart v26.7.0 (`deployments/gpu-operator/values.yaml` and
`templates/clusterpolicy.yaml` at tag v26.7.0), which ships toolkit v1.20.0, device plugin v0.20.0,
DCGM exporter 4.6.0-4.8.3, driver manager v0.12.0, MIG manager v0.15.0 and node-feature-discovery
v0.19.0; its platform-support page validates K3s 1.33-1.36 on Ubuntu 22.04, 24.04 and 26.04.

k3s runs its own containerd and rewrites `config.toml` from its template at every start, so the
toolkit is pointed at k3s's paths and reads the runtime config from that file: the toolkit's
default (asking the containerd CLI) fails on distributions that embed containerd
(NVIDIA/gpu-operator#1323). When k3s restarts and drops the toolkit's edit, k3s finds the
toolkit's runtime under /usr/local/nvidia/toolkit by itself and re-adds the `nvidia` runtime
(k3s docs, "NVIDIA Container Runtime Support"), so pods asking for runtimeClassName `nvidia` keep
working; we never write `config.toml.tmpl`, which users report loses k3s's CNI settings
(k3s-io/k3s#8248, NVIDIA/gpu-operator#473).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from greenzone.answers.model import Answers

CHART_VERSION = "v26.7.0"
K3S_CONTAINERD_CONFIG = "/var/lib/rancher/k3s/agent/etc/containerd/config.toml"
K3S_CONTAINERD_SOCKET = "/run/k3s/containerd/containerd.sock"
RUNTIME_CLASS = "nvidia"
OPERATOR_NAMESPACE = "gpu-operator"
TIME_SLICING_CONFIG = "greenzone-time-slicing"
# The Service the operator makes for the DCGM exporter (gpu-operator v26.7.0,
# assets/state-dcgm-exporter: label `app: nvidia-dcgm-exporter`, port `gpu-metrics`, 9400).
DCGM_SERVICE_LABELS = {"app": "nvidia-dcgm-exporter"}
DCGM_PORT_NAME = "gpu-metrics"


DRIVER_BRANCH = "580"
"""The driver branch the operator runs when it manages the driver (R580, long-term support; NVIDIA
publishes precompiled images of it for Ubuntu 22.04 and 24.04, gpu-driver-container's
precompiled-matrix-config.json)."""
_PRECOMPILED = re.compile(r"^nvcr\.io/nvidia/driver:(?P<branch>\d+)-(?P<kernel>\d.+)-(?P<os>ubuntu\d\d\.\d\d)$")


@dataclass(frozen=True)
class PrecompiledDriver:
    branch: str
    kernel: str
    os_tag: str


def precompiled_drivers(refs: Iterable[str]) -> list[PrecompiledDriver]:
    """The precompiled driver images among `refs`: `nvcr.io/nvidia/driver:<branch>-<kernel>-<os>`
    (gpu-operator docs, "Precompiled Driver Containers"; tag built by the operator from
    driver.version, the node's kernel and its OS). Only these work offline: the normal driver
    container downloads the kernel's headers and modules packages when it starts (NVIDIA's air-gap
    guide requires a local package mirror for it; NVIDIA/gpu-operator#2884)."""
    found = []
    for ref in refs:
        match = _PRECOMPILED.match(ref)
        if match:
            found.append(PrecompiledDriver(match["branch"], match["kernel"], match["os"]))
    return found


def driver_for(
    kernel: str, os_id: str, os_version: str, drivers: Iterable[PrecompiledDriver]
) -> PrecompiledDriver | None:
    """The precompiled image the operator would pick for a node, if the bundle carries it."""
    os_tag = f"{os_id}{os_version}"
    return next((d for d in drivers if d.branch == DRIVER_BRANCH and d.kernel == kernel and d.os_tag == os_tag), None)


def _env(**values: str) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in values.items()]


def _time_slicing(answers: Answers) -> dict[str, Any]:
    """The device plugin's sharing config; one `any` profile applied to every GPU node."""
    replicas = answers.gpu.time_slicing_replicas
    if replicas <= 1:
        return {"create": False, "name": "", "default": "", "data": {}}
    mig = answers.gpu.mig_strategy
    config = (
        "version: v1\n"
        "flags:\n"
        f"  migStrategy: {mig}\n"
        "sharing:\n"
        "  timeSlicing:\n"
        "    resources:\n"
        "      - name: nvidia.com/gpu\n"
        f"        replicas: {replicas}\n"
    )
    return {"create": True, "name": TIME_SLICING_CONFIG, "default": "any", "data": {"any": config}}


def gpu_operator_values(answers: Answers) -> dict[str, Any]:
    gpu = answers.gpu
    return {
        # The operator's and validator's tags default to the chart's appVersion; pinning them makes
        # the rendered images independent of how the chart archive was cut.
        "operator": {"version": CHART_VERSION, "runtimeClass": RUNTIME_CLASS},
        "validator": {"version": CHART_VERSION},
        # The operator manages the driver only from precompiled images (offline); see precompiled_drivers.
        "driver": (
            {"enabled": True, "usePrecompiled": True, "version": DRIVER_BRANCH}
            if gpu.driver == "operator"
            else {"enabled": False}
        ),
        "toolkit": {
            "enabled": True,
            "env": _env(
                CONTAINERD_CONFIG=K3S_CONTAINERD_CONFIG,
                CONTAINERD_SOCKET=K3S_CONTAINERD_SOCKET,
                CONTAINERD_RUNTIME_CLASS=RUNTIME_CLASS,
                RUNTIME_CONFIG_SOURCE="file",
            ),
        },
        "devicePlugin": {"enabled": True, "config": _time_slicing(answers)},
        "mig": {"strategy": gpu.mig_strategy},
        "migManager": {"enabled": gpu.mig_strategy != "none"},
        "dcgmExporter": {
            "enabled": True,
            # Never the operator's own ServiceMonitor: its CRD arrives with the monitoring phase,
            # after this one, and a ClusterPolicy asking for it stays NotReady until then (or for
            # good, when monitoring is off or fails). The monitoring release scrapes the exporter
            # instead (values/monitoring.py, `prometheus.additionalServiceMonitors`).
            "serviceMonitor": {"enabled": False},
        },
        # Nothing here is a sandbox/VM host; keeping these off keeps their images out of the bundle.
        "sandboxWorkloads": {"enabled": False},
        "nfd": {"enabled": True},
        "cdi": {"enabled": True},
    }

"""Host-layer verdicts: the GPUs as NVML and the kernel log see them, and the disks that fill up.

The GPU's own condition is judged by the same rules as preflight (`gpu_condition_checks`); health
adds what only matters on a running node: memory nearly full, clocks held down by heat or power,
and Xid errors since boot.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Iterator, Sequence

from greenzone.health.observed import HostView, XidEvent
from greenzone.health.targets import Targets
from greenzone.health.xid import CRITICAL, describe
from greenzone.preflight.facts_model import GpuFacts
from greenzone.preflight.rules import gpu_condition_checks, nvml_unreachable
from greenzone.results import Check, Status, verdict

LAYER = "host"
_check = functools.partial(verdict, group=LAYER)
FULL_VRAM_FRACTION = 0.98
"""Above this, a model switch or a longer context fails to allocate (vLLM alone takes 0.9 by design)."""
DISK_FAIL_FREE, DISK_WARN_FREE = 0.10, 0.20
"""The kubelet evicts pods below 10 % free on its file system (its default hard threshold)."""

# nvmlClocksEventReason* bits (nvml.h) and what each means for the operator.
_HARDWARE_REASONS = {0x8: "hardware slowdown", 0x40: "hardware thermal slowdown", 0x80: "power brake"}
_SOFT_REASONS = {0x20: "software thermal slowdown"}
_NORMAL_REASONS = {
    0x1: "idle",
    0x2: "application clocks setting",
    0x4: "power cap (normal under load)",
    0x10: "sync boost",
    0x100: "display clock setting",
}


def _in_layer(check: Check) -> Check:
    return dataclasses.replace(check, group=LAYER)


def _bits(mask: int, names: dict[int, str]) -> list[str]:
    return [text for bit, text in names.items() if mask & bit]


def _clocks(gpu: GpuFacts) -> Check | None:
    mask = gpu.clocks_event_reasons
    if mask is None:
        return None
    hardware, soft, normal = _bits(mask, _HARDWARE_REASONS), _bits(mask, _SOFT_REASONS), _bits(mask, _NORMAL_REASONS)
    name = f"{gpu.label} clocks"
    if hardware:
        return _check(
            name,
            Status.FAIL,
            f"clocks held down by {', '.join(hardware + soft)}",
            "the GPU protects itself from heat or a failing power supply: check fans, airflow and PSU "
            f"(`nvidia-smi -q -d PERFORMANCE -i {gpu.index}`), then call the vendor",
        )
    if soft:
        return _check(
            name,
            Status.WARN,
            f"clocks held down by {', '.join(soft)}",
            "the driver slows the GPU because it runs hot: check airflow and room cooling",
        )
    return _check(name, Status.PASS, f"limited by {', '.join(normal)}" if normal else "running at full clocks")


def _memory(gpu: GpuFacts) -> Check | None:
    if not gpu.memory_total or gpu.memory_used is None:
        return None
    used, total, reserved = gpu.memory_used, gpu.memory_total, gpu.memory_reserved or 0
    detail = f"{used / 2**30:.1f} of {total / 2**30:.1f} GiB in use"
    if reserved:
        detail += f" ({reserved / 2**30:.1f} GiB more reserved by the driver)"
    if used + reserved >= FULL_VRAM_FRACTION * total:
        return _check(
            f"{gpu.label} memory",
            Status.WARN,
            detail + ": a model switch or a longer context will not fit",
            "see what holds it with `nvidia-smi`; lower the engine's memory share or the models per GPU",
        )
    return _check(f"{gpu.label} memory", Status.PASS, detail)


def _xids(view: HostView) -> Check:
    return xid_check(view.xids, view.xid_error)


def xid_check(xids: Sequence[XidEvent] | None, error: str = "", name: str = "Xid errors") -> Check:
    """The driver's Xid reports of one node, ranked: hardware ones fail, application ones warn."""
    if xids is None:
        return _check(
            name,
            Status.SKIP,
            f"the kernel log could not be read ({error})",
            "run health as root to include the driver's Xid reports",
        )
    if not xids:
        return _check(name, Status.PASS, "none in the kernel log since boot")
    by_code: dict[tuple[int, str], list[XidEvent]] = {}
    for event in xids:
        by_code.setdefault((event.code, event.pci), []).append(event)
    parts = [f"Xid {code} on {pci} ×{len(events)}: {describe(code)}" for (code, pci), events in sorted(by_code.items())]
    critical = any(event.code in CRITICAL for event in xids)
    return _check(
        name,
        Status.FAIL if critical else Status.WARN,
        "; ".join(parts) + " (since boot)",
        "drain the node, reset the GPU (`nvidia-smi -r`) or reboot; if the Xid returns, call the vendor"
        if critical
        else "an application crashed its GPU context: check the inference pods' logs around that time",
    )


def _disks(view: HostView) -> Iterator[Check]:
    for disk in view.disks:
        free = disk.free_bytes / disk.total_bytes if disk.total_bytes else 0.0
        status = Status.FAIL if free < DISK_FAIL_FREE else Status.WARN if free < DISK_WARN_FREE else Status.PASS
        yield _check(
            f"disk {disk.purpose}",
            status,
            f"{disk.free_bytes / 2**30:.1f} GiB free of {disk.total_bytes / 2**30:.1f} GiB ({free:.0%}) at {disk.measured_at}",
            f"free space under {disk.path}: unused images (`k3s crictl rmi --prune`), old models, logs; "
            f"below {DISK_FAIL_FREE:.0%} the kubelet evicts pods",
        )


def host_checks(view: HostView | None, targets: Targets) -> Iterator[Check]:
    if not targets.local_node or view is None:
        yield _check(
            "host",
            Status.SKIP,
            "no node of the answers is this machine; run health on a node to check its GPUs and disks",
        )
        return
    yield from judge_host(view, targets.driver, targets.operator_namespace)


def judge_host(view: HostView, driver: str = "host", operator_namespace: str = "gpu-operator") -> Iterator[Check]:
    """The host's verdicts on its view alone: `driver` says whether the GPU operator brings the driver."""
    nvml = view.nvml
    if nvml.state == "no_library" and driver == "operator":
        yield _check(
            "NVML",
            Status.FAIL,
            "the GPU operator's driver is not running on this node (no libnvidia-ml.so.1 on the host "
            "or under /run/nvidia/driver)",
            f"`kubectl -n {operator_namespace} get pods -o wide`: the nvidia-driver-daemonset pod "
            "of this node should be Running; its log says why not",
        )
    elif nvml.state != "ok":
        yield _in_layer(dataclasses.replace(nvml_unreachable(nvml, view.pci_devices, None), name="NVML"))
    else:
        yield _check("NVML", Status.PASS, f"driver {nvml.driver_version}, {len(nvml.gpus)} GPU(s)")
        for gpu in nvml.gpus:
            yield from (_in_layer(check) for check in gpu_condition_checks(gpu))
            if gpu.lost:
                continue
            for extra in (_memory(gpu), _clocks(gpu)):
                if extra is not None:
                    yield extra
    yield _xids(view)
    yield from _disks(view)

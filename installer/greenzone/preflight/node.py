"""A node's preflight, judged by the same rules as `greenzone preflight` (pure).

The nodes' role runs the shared probe (preflight/probe.py) on each node; this turns what it saw
into `HostFacts` and, on a GPU node whose driver must already run, nvidia-smi's answer into
`NvmlFacts`, then applies `host_checks` and `gpu_checks` and the `--force-preflight` gate. There is
no second copy of a threshold or a message: what fails on a node fails the same way here.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from greenzone.install.gate import Gate, preflight_gate
from greenzone.preflight.facts_model import GpuFacts, NvmlFacts, host_facts
from greenzone.preflight.rules import (
    PORT_PURPOSES,
    bundle_platform_check,
    driver_image_check,
    gpu_checks,
    host_checks,
)
from greenzone.results import Check

MiB = 2**20


def _int(text: str) -> int | None:
    return int(text) if text.strip().isdigit() else None


def nvml_from_smi(raw: Mapping[str, Any]) -> NvmlFacts:
    """nvidia-smi's CSV rows (index, name, uuid, bus id, memory total/used in MiB, driver)."""
    if raw.get("state") != "ok":
        return NvmlFacts(raw.get("state", "error"), str(raw.get("detail", "")))
    rows = raw.get("gpus") or []
    gpus = []
    for index, name, uuid, bus, total, used, _ in rows:
        total_mib, used_mib = _int(total), _int(used)
        gpus.append(
            GpuFacts(
                index=_int(index) or 0,
                name=name,
                uuid=uuid,
                pci_bus_id=bus,
                memory_total=total_mib * MiB if total_mib is not None else None,
                memory_used=used_mib * MiB if used_mib is not None else None,
            )
        )
    return NvmlFacts("ok", driver_version=rows[0][6] if rows else None, gpus=tuple(gpus))


def node_checks(
    raw: Mapping[str, Any], driver_images: list[str] | None = None, machines: list[str] | None = None
) -> tuple[Check, ...]:
    """Every host check, plus the GPU checks when the probe asked nvidia-smi (a GPU node with a
    preinstalled driver), or the driver image check on a GPU node whose driver the operator runs
    (`driver_images` given); the state-directory disk is the installing machine's, not the node's."""
    host = host_facts(raw, PORT_PURPOSES)
    checks = list(host_checks(host, None))
    if "nvidia_smi" in raw:
        checks.extend(gpu_checks(nvml_from_smi(raw["nvidia_smi"]), host, None))
    if driver_images is not None:
        checks.append(driver_image_check(host, driver_images))
    if machines:
        checks.append(bundle_platform_check(host, machines))
    return tuple(checks)


def node_gate(
    raw: Mapping[str, Any],
    forced: Collection[str],
    driver_images: list[str] | None = None,
    machines: list[str] | None = None,
) -> Gate:
    return preflight_gate(node_checks(raw, driver_images, machines), forced)


def refusal(node: str, gate: Gate) -> str:
    """One message naming every blocking check, its finding and its fix, so one run tells all."""
    problems = [f"{check.name}: {check.detail} (fix: {check.remedy})" for check in gate.blocking]
    return f"{node} cannot run the appliance: " + " | ".join(problems)

"""Plain data gathered from the machine. Adapters fill it; the pure rules judge it.

`None` always means "not known" (NVML said not supported, or the file was absent), never zero, so a
rule can tell "no ECC errors" from "this GPU does not report ECC".
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

NvmlState = Literal["ok", "no_library", "driver_not_loaded", "version_mismatch", "no_permission", "error"]
K3S_DATA_DIR = Path("/var/lib/rancher/k3s")
"""Where k3s keeps its images, containerd state and local volumes: the disk that fills up first."""

ModuleState = Literal["loaded", "builtin", "available", "missing", "unknown"]


@dataclass(frozen=True)
class RemappedRows:
    corrected: int
    uncorrected: int
    pending: bool
    failed: bool


@dataclass(frozen=True)
class GpuFacts:
    index: int
    name: str | None = None
    uuid: str | None = None
    pci_bus_id: str | None = None
    memory_total: int | None = None
    #: Memory processes hold. NVML's v2 reading leaves out what the driver and firmware reserve,
    #: as `nvidia-smi -q` does (an idle H200 with driver 580: 0 MiB used, 616 MiB reserved); the v1
    #: reading of older drivers counts the reservation as used, and `memory_reserved` stays None.
    memory_used: int | None = None
    memory_reserved: int | None = None
    compute_capability: tuple[int, int] | None = None
    mig_current: bool | None = None
    mig_pending: bool | None = None
    temperature_c: int | None = None
    slowdown_temperature_c: int | None = None
    power_limit_w: float | None = None
    ecc_current: bool | None = None
    ecc_pending: bool | None = None
    ecc_uncorrected_volatile: int | None = None
    remapped_rows: RemappedRows | None = None
    persistence_mode: bool | None = None
    #: nvmlClocksEventReason* bitmask: why the clocks are below their maximum right now.
    clocks_event_reasons: int | None = None
    lost: bool = False
    #: Facts NVML reported as not supported on this GPU, and facts that failed otherwise.
    unsupported: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return f"GPU {self.index}" + (f" ({self.name})" if self.name else "")

    @property
    def memory_usable(self) -> int | None:
        """What a workload can ever have: the total less the driver's reservation."""
        if self.memory_total is None:
            return None
        return self.memory_total - (self.memory_reserved or 0)


@dataclass(frozen=True)
class NvmlFacts:
    state: NvmlState
    detail: str = ""
    driver_version: str | None = None
    cuda_driver_version: str | None = None
    gpus: tuple[GpuFacts, ...] = ()


@dataclass(frozen=True)
class DiskFacts:
    purpose: str  # "state dir", "k3s data dir"
    path: str
    measured_at: str  # the nearest existing directory, when `path` does not exist yet
    free_bytes: int
    total_bytes: int


@dataclass(frozen=True)
class PortFacts:
    port: int
    purpose: str
    in_use: bool
    process: str | None = None


@dataclass(frozen=True)
class HostFacts:
    cpu_cores: int
    memory_bytes: int
    swap_bytes: int
    os_id: str
    os_version: str
    os_name: str
    kernel: str
    arch: str
    cgroup_version: int | None
    modules: dict[str, ModuleState]
    nouveau_loaded: bool
    nvidia_pci_devices: tuple[str, ...]
    disks: tuple[DiskFacts, ...]
    ports: tuple[PortFacts, ...]
    existing: tuple[str, ...]  # "k3s", "docker", "containerd", "rke2", ...
    time_sync: Literal["synchronized", "service running", "not synchronized", "unknown"]
    is_root: bool = True
    default_route: bool | None = None  # None: not probed (facts from an older probe)
    selinux: Literal["enforcing", "permissive", "disabled"] = "disabled"


def host_facts(raw: Mapping[str, Any], port_purposes: Mapping[int, str]) -> HostFacts:
    """The probe's JSON (preflight/probe.py, read here or on a node) as `HostFacts`."""
    return HostFacts(
        cpu_cores=int(raw["cpu_cores"]),
        memory_bytes=int(raw["memory_bytes"]),
        swap_bytes=int(raw["swap_bytes"]),
        os_id=str(raw["os_id"]),
        os_version=str(raw["os_version"]),
        os_name=str(raw["os_name"]),
        kernel=str(raw["kernel"]),
        arch=str(raw["arch"]),
        cgroup_version=raw["cgroup_version"],
        modules=dict(raw["modules"]),
        nouveau_loaded=bool(raw["nouveau_loaded"]),
        nvidia_pci_devices=tuple(raw["nvidia_pci_devices"]),
        disks=tuple(DiskFacts(**disk) for disk in raw["disks"]),
        ports=tuple(
            PortFacts(
                int(port["port"]),
                port_purposes.get(int(port["port"]), "Harbor registry"),
                bool(port["in_use"]),
                port["process"],
            )
            for port in raw["ports"]
        ),
        existing=tuple(raw["existing"]),
        time_sync=raw["time_sync"],
        is_root=bool(raw["is_root"]),
        default_route=raw.get("default_route"),
        selinux=raw.get("selinux", "disabled"),
    )


@dataclass(frozen=True)
class Facts:
    host: HostFacts
    nvml: NvmlFacts
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

"""Host facts through psutil, /proc, /sys and /etc: plain data, no verdicts.

Every reader tolerates a missing file (containers, minimal installs) by returning "unknown".
"""

from __future__ import annotations

import os
import platform
import shutil
from collections.abc import Iterable
from pathlib import Path

import psutil

from greenzone.preflight.facts_model import K3S_DATA_DIR, DiskFacts, HostFacts, ModuleState, PortFacts

REQUIRED_MODULES = ("overlay", "br_netfilter")


def _os_release(root: Path) -> dict[str, str]:
    for candidate in (root / "etc/os-release", root / "usr/lib/os-release"):
        try:
            lines = candidate.read_text().splitlines()
        except OSError:
            continue
        values = {}
        for line in lines:
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip().strip('"')
        return values
    return {}


def _cgroup_version(root: Path) -> int | None:
    if (root / "sys/fs/cgroup/cgroup.controllers").exists():
        return 2
    if (root / "sys/fs/cgroup").is_dir():
        return 1
    return None


def _module_states(names: Iterable[str], root: Path, kernel: str) -> dict[str, ModuleState]:
    try:
        loaded = {line.split()[0] for line in (root / "proc/modules").read_text().splitlines() if line}
    except OSError:
        loaded = set()
    moddir = root / "lib/modules" / kernel

    def read(name: str) -> str:
        try:
            return (moddir / name).read_text()
        except OSError:
            return ""

    builtin, dep = read("modules.builtin"), read("modules.dep")
    states: dict[str, ModuleState] = {}
    for name in names:
        if name in loaded or (root / "sys/module" / name).exists():
            states[name] = "loaded"
        elif f"/{name}.ko" in builtin:
            states[name] = "builtin"
        elif f"/{name}.ko" in dep:
            states[name] = "available"
        elif not moddir.exists():
            states[name] = "unknown"
        else:
            states[name] = "missing"
    return states


def nvidia_pci_devices(root: Path) -> tuple[str, ...]:
    """NVIDIA display/3D controllers on the PCI bus: tells "no driver" apart from "no GPU"."""
    found = []
    for device in sorted((root / "sys/bus/pci/devices").glob("*")):
        try:
            vendor = (device / "vendor").read_text().strip()
            klass = (device / "class").read_text().strip()
        except OSError:
            continue
        if vendor == "0x10de" and klass.startswith("0x03"):
            found.append(device.name)
    return tuple(found)


def disk_facts(purpose: str, path: Path) -> DiskFacts:
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(probe)
    return DiskFacts(purpose, str(path), str(probe), usage.free, usage.total)


def _listening_ports() -> dict[int, str | None]:
    listening: dict[int, str | None] = {}
    try:
        connections = psutil.net_connections(kind="inet")
    except (psutil.AccessDenied, OSError):
        return listening
    for conn in connections:
        if conn.status != psutil.CONN_LISTEN or not conn.laddr:
            continue
        name = None
        if conn.pid:
            try:
                name = psutil.Process(conn.pid).name()
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                name = None
        listening.setdefault(conn.laddr.port, name)
    return listening


def _existing_runtimes(root: Path, process_names: set[str]) -> tuple[str, ...]:
    found = []
    if (root / "usr/local/bin/k3s").exists() or (root / "etc/rancher/k3s").exists() or "k3s" in process_names:
        found.append("k3s")
    if (root / "etc/rancher/rke2").exists() or "rke2" in process_names:
        found.append("rke2")
    if (root / "var/run/docker.sock").exists() or "dockerd" in process_names:
        found.append("docker")
    if "containerd" in process_names and "k3s" not in process_names:
        found.append("containerd")
    if "kubelet" in process_names:
        found.append("kubelet")
    return tuple(found)


def _time_sync(root: Path, process_names: set[str]) -> str:
    if (root / "run/systemd/timesync/synchronized").exists():
        return "synchronized"
    if process_names & {"chronyd", "ntpd", "systemd-timesyncd", "openntpd", "timesyncd"}:
        return "service running"
    if (root / "run/systemd/system").exists():
        return "not synchronized"
    return "unknown"


def read_host(ports: dict[int, str], state_dir: Path, root: Path = Path("/")) -> HostFacts:
    """`ports` maps each port that must be free to what needs it; `root` lets tests point at a tree."""
    release = _os_release(root)
    kernel = platform.release()
    process_names = set()
    for proc in psutil.process_iter(["name"]):
        name = proc.info.get("name")
        if name:
            process_names.add(name)
    listening = _listening_ports()
    modules = _module_states((*REQUIRED_MODULES, "nouveau"), root, kernel)
    return HostFacts(
        cpu_cores=psutil.cpu_count(logical=True) or 1,
        memory_bytes=psutil.virtual_memory().total,
        swap_bytes=psutil.swap_memory().total,
        os_id=release.get("ID", "unknown"),
        os_version=release.get("VERSION_ID", ""),
        os_name=release.get("PRETTY_NAME", platform.platform()),
        kernel=kernel,
        arch=platform.machine(),
        cgroup_version=_cgroup_version(root),
        modules={name: modules[name] for name in REQUIRED_MODULES},
        nouveau_loaded=modules["nouveau"] == "loaded",
        nvidia_pci_devices=nvidia_pci_devices(root),
        disks=(disk_facts("state dir", state_dir), disk_facts("k3s data dir", K3S_DATA_DIR)),
        ports=tuple(
            PortFacts(port, purpose, port in listening, listening.get(port)) for port, purpose in sorted(ports.items())
        ),
        existing=_existing_runtimes(root, process_names),
        time_sync=_time_sync(root, process_names),  # type: ignore[arg-type]
        is_root=os.geteuid() == 0,
    )

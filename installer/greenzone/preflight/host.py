"""This machine's host facts: the shared probe (preflight/probe.py) read here, as `HostFacts`.

The nodes' preflight role runs the same probe on each node, so both sides see a machine alike.
"""

from __future__ import annotations

from pathlib import Path

from greenzone.preflight import probe
from greenzone.preflight.facts_model import K3S_DATA_DIR, DiskFacts, HostFacts, host_facts


def nvidia_pci_devices(root: Path) -> tuple[str, ...]:
    return tuple(probe.nvidia_pci_devices(root))


def disk_facts(purpose: str, path: Path) -> DiskFacts:
    return DiskFacts(**probe.disk(purpose, path))


def read_host(ports: dict[int, str], state_dir: Path, root: Path = Path("/")) -> HostFacts:
    """`ports` maps each port that must be free to what needs it; `root` lets tests point at a tree."""
    disks = [("state dir", str(state_dir)), ("k3s data dir", str(K3S_DATA_DIR))]
    return host_facts(probe.collect(root, sorted(ports), disks), ports)

"""Host facts for health: NVML (also when the GPU operator runs the driver in a container), the
kernel log's Xid lines, and the disks k3s and the models live on."""

from __future__ import annotations

import ctypes
import errno
import logging
import os
from pathlib import Path

from greenzone.health.observed import HostView
from greenzone.health.targets import Targets
from greenzone.health.xid import parse_kernel_log
from greenzone.preflight.gpu import read_nvml
from greenzone.preflight.host import disk_facts, nvidia_pci_devices

log = logging.getLogger(__name__)
KERNEL_LOG = Path("/dev/kmsg")
MAX_KERNEL_LOG = 8 * 1024 * 1024
# Where the GPU operator's driver container exposes its root on the host (its `driver.rdma`-less default).
_OPERATOR_DRIVER_LIBS = (
    "run/nvidia/driver/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1",
    "run/nvidia/driver/usr/lib/aarch64-linux-gnu/libnvidia-ml.so.1",
    "run/nvidia/driver/usr/lib64/libnvidia-ml.so.1",
)


def preload_operator_driver(root: Path = Path("/")) -> str | None:
    """With `gpu.driver: operator` the host has no libnvidia-ml.so.1 on its library path; loading the
    container's copy first lets pynvml's own `CDLL("libnvidia-ml.so.1")` find it by its soname."""
    try:
        ctypes.CDLL("libnvidia-ml.so.1")
        return None
    except OSError:
        pass
    for relative in _OPERATOR_DRIVER_LIBS:
        candidate = root / relative
        if candidate.is_file():
            try:
                ctypes.CDLL(str(candidate), mode=ctypes.RTLD_GLOBAL)
            except OSError as error:
                log.warning("cannot load the operator's NVML %s: %s", candidate, error)
                continue
            return str(candidate)
    return None


def read_kernel_log(path: Path = KERNEL_LOG) -> tuple[list[str] | None, str]:
    """All records the kernel still holds (`/dev/kmsg` gives one per read and EAGAIN at the end),
    or None and why (reading it needs root or CAP_SYSLOG)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        return None, f"{path}: {error.strerror}"
    chunks, size = [], 0
    try:
        while size < MAX_KERNEL_LOG:
            try:
                chunk = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError as error:
                if error.errno == errno.EPIPE:  # records were overwritten while reading: go on
                    continue
                return None, f"{path}: {error.strerror}"
            if not chunk:
                break
            chunks.append(chunk)  # kmsg records end in a newline; a plain file is read in blocks
            size += len(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace").splitlines(), ""


def read_host_view(targets: Targets, *, root: Path = Path("/"), kernel_log: Path = KERNEL_LOG) -> HostView:
    if targets.driver == "operator":
        preload_operator_driver(root)
    nvml = read_nvml()
    lines, why = read_kernel_log(kernel_log)
    disks = tuple(disk_facts(purpose, path) for purpose, path in targets.disks)
    return HostView(
        nvml=nvml,
        pci_devices=nvidia_pci_devices(root),
        xids=None if lines is None else parse_kernel_log(lines),
        xid_error=why,
        disks=disks,
    )

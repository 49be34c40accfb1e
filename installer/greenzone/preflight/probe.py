"""A machine's raw facts, read from /proc, /sys and /etc with the standard library only.

One reader serves two places, so that a node's preflight and `greenzone preflight` on that machine
cannot disagree about what they saw: `greenzone preflight` imports it (preflight/host.py), and the
nodes' preflight role runs this very file's source on each node through the installer's own action
plugin (`playbooks/action_plugins/greenzone_node_preflight.py`), where greenzone is not installed;
the Python rules then judge both. Hence: nothing but the standard library, and nothing newer than
the oldest Python that ansible-core runs modules with on a node (3.7: no walrus, no `match`).

Every reader tolerates a missing file (containers, minimal installs) by reporting "unknown".
As a script it reads one JSON argument (`{"ports": [...], "disks": [[purpose, path], ...],
"nvidia_smi": bool}`) and prints the facts as JSON.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REQUIRED_MODULES = ("overlay", "br_netfilter")
K3S_PROCESS_NAMES = ("k3s", "k3s-server", "k3s-agent")
_TCP_LISTEN = "0A"


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def os_release(root: Path) -> dict[str, str]:
    for candidate in (root / "etc/os-release", root / "usr/lib/os-release"):
        text = _read(candidate)
        if not text:
            continue
        values = {}
        for line in text.splitlines():
            key, sep, value = line.partition("=")
            if sep:
                values[key.strip()] = value.strip().strip('"')
        return values
    return {}


def cgroup_version(root: Path) -> int | None:
    if (root / "sys/fs/cgroup/cgroup.controllers").exists():
        return 2
    if (root / "sys/fs/cgroup").is_dir():
        return 1
    return None


def meminfo_bytes(root: Path) -> dict[str, int]:
    """MemTotal and SwapTotal as /proc/meminfo gives them (kB), in bytes."""
    found = {}
    for line in _read(root / "proc/meminfo").splitlines():
        key, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            found[key] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return found


def _feature_present(name: str, root: Path) -> bool:
    """The kernel's own sign that a module's function is there, loaded or built in: a kernel built
    without /lib/modules (a VM image, a vendor kernel) has no other way to say it."""
    if name == "overlay":
        return any(line.split()[-1:] == ["overlay"] for line in _read(root / "proc/filesystems").splitlines())
    if name == "br_netfilter":
        return (root / "proc/sys/net/bridge/bridge-nf-call-iptables").exists()
    return False


def module_states(names: tuple[str, ...], root: Path, kernel: str) -> dict[str, str]:
    loaded = {line.split()[0] for line in _read(root / "proc/modules").splitlines() if line.strip()}
    moddir = root / "lib/modules" / kernel
    builtin, dep = _read(moddir / "modules.builtin"), _read(moddir / "modules.dep")
    states = {}
    for name in names:
        if name in loaded or (root / "sys/module" / name).exists() or _feature_present(name, root):
            states[name] = "loaded"
        elif "/" + name + ".ko" in builtin:
            states[name] = "builtin"
        elif "/" + name + ".ko" in dep:
            states[name] = "available"
        elif not moddir.exists():
            states[name] = "unknown"
        else:
            states[name] = "missing"
    return states


def nvidia_pci_devices(root: Path) -> list[str]:
    """NVIDIA display/3D controllers on the PCI bus: tells "no driver" apart from "no GPU"."""
    found = []
    for device in sorted((root / "sys/bus/pci/devices").glob("*")):
        vendor, klass = _read(device / "vendor").strip(), _read(device / "class").strip()
        if vendor == "0x10de" and klass.startswith("0x03"):
            found.append(device.name)
    return found


def disk(purpose: str, path: Path) -> dict[str, Any]:
    """Free space where `path` will live: at the nearest directory that exists already."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    usage = shutil.disk_usage(str(probe))
    return {
        "purpose": purpose,
        "path": str(path),
        "measured_at": str(probe),
        "free_bytes": usage.free,
        "total_bytes": usage.total,
    }


def _process_name(pid_dir: Path) -> str:
    """The name `ps` and psutil show: comm, completed from the command line when comm was cut at 15."""
    name = _read(pid_dir / "comm").strip()
    if len(name) == 15:
        argv0 = _read(pid_dir / "cmdline").split("\0")[0]
        base = Path(argv0.split(" ")[0]).name
        if base.startswith(name):
            name = base
    return name


def processes(root: Path) -> dict[int, str]:
    found = {}
    for pid_dir in (root / "proc").glob("[0-9]*"):
        name = _process_name(pid_dir)
        if name:
            found[int(pid_dir.name)] = name
    return found


def _listening_inodes(root: Path) -> dict[str, int]:
    """Socket inode -> port, for every TCP socket listening on IPv4 or IPv6."""
    found = {}
    for table in ("proc/net/tcp", "proc/net/tcp6"):
        for line in _read(root / table).splitlines()[1:]:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _TCP_LISTEN:
                found[fields[9]] = int(fields[1].rsplit(":", 1)[1], 16)
    return found


def listening_ports(root: Path, names: dict[int, str]) -> dict[int, str | None]:
    """Port -> the process listening there (None when it cannot be told, e.g. without root)."""
    inodes = _listening_inodes(root)
    ports: dict[int, str | None] = dict.fromkeys(inodes.values())
    for pid, name in names.items():
        try:
            links = list((root / "proc" / str(pid) / "fd").iterdir())
        except OSError:
            continue
        for link in links:
            try:
                target = os.readlink(str(link))  # noqa: PTH115 (Path.readlink is 3.9+; nodes may run 3.7)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                port = inodes[target[8:-1]]
                if ports.get(port) is None:
                    ports[port] = name
    return ports


def existing_runtimes(root: Path, names: set[str]) -> list[str]:
    found = []
    if (root / "usr/local/bin/k3s").exists() or (root / "etc/rancher/k3s").exists() or "k3s" in names:
        found.append("k3s")
    if (root / "etc/rancher/rke2").exists() or "rke2" in names:
        found.append("rke2")
    if (root / "var/run/docker.sock").exists() or "dockerd" in names:
        found.append("docker")
    if "containerd" in names and not names & set(K3S_PROCESS_NAMES):
        found.append("containerd")
    if "kubelet" in names:
        found.append("kubelet")
    return found


#: systemd-timedated's NTPSynchronized (src/timedate/timedated.c, `ntp_synced`): the clock counts
#: as synchronized while the kernel's bound on its error is under 16 s. A sync daemon (chrony, ntpd,
#: timesyncd) resets that bound at each sync; the kernel adds 500 µs to it every second otherwise.
SYNCED_MAXERROR_US = 16_000_000


def kernel_clock_maxerror_us() -> int | None:
    """adjtimex(2) with modes 0, which reads and changes nothing and needs no privilege: the kernel's
    own word on its clock, so that a machine without systemd (a container, a VM image) or with chrony
    (which never writes timesyncd's flag file) is still judged. None where the call is not there."""
    import ctypes

    class Timex(ctypes.Structure):
        # struct timex's leading fields (adjtimex(2)); the rest is room for the fields after them.
        _fields_ = [
            ("modes", ctypes.c_uint),
            ("offset", ctypes.c_long),
            ("freq", ctypes.c_long),
            ("maxerror", ctypes.c_long),
            ("esterror", ctypes.c_long),
            ("status", ctypes.c_int),
            ("rest", ctypes.c_char * 512),
        ]

    try:
        timex = Timex()
        if ctypes.CDLL(None, use_errno=True).adjtimex(ctypes.byref(timex)) < 0:
            return None
    except (OSError, AttributeError):
        return None
    return int(timex.maxerror)


def time_sync(root: Path, names: set[str], maxerror_us: int | None = None) -> str:
    if (root / "run/systemd/timesync/synchronized").exists():
        return "synchronized"
    if maxerror_us is not None and maxerror_us < SYNCED_MAXERROR_US:
        return "synchronized"
    if names & {"chronyd", "ntpd", "systemd-timesyncd", "openntpd", "timesyncd"}:
        return "service running"
    if maxerror_us is not None:
        return "not synchronized"
    if (root / "run/systemd/system").exists():
        return "not synchronized"
    return "unknown"


def nvidia_smi(timeout: float = 20.0) -> dict[str, Any]:
    """The driver's view where NVML cannot be loaded from here (a node): nvidia-smi's CSV query."""
    binary = shutil.which("nvidia-smi")
    if binary is None:
        return {"state": "no_library", "detail": "nvidia-smi is not installed"}
    fields = "index,name,uuid,pci.bus_id,memory.total,memory.used,driver_version"
    try:
        done = subprocess.run(
            [binary, "--query-gpu=" + fields, "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return {"state": "error", "detail": "nvidia-smi: " + str(error)}
    if done.returncode != 0:
        message = (done.stdout + done.stderr).strip().splitlines()
        return {"state": "driver_not_loaded", "detail": "nvidia-smi: " + (message[-1] if message else "failed")}
    gpus = []
    for line in done.stdout.splitlines():
        cells = [cell.strip() for cell in line.split(",")]
        if len(cells) == 7:
            gpus.append(cells)
    return {"state": "ok", "detail": "", "gpus": gpus}


def default_route(root: Path) -> bool:
    """An IPv4 or IPv6 default route exists (/proc/net/route destination 00000000, ipv6_route ::/0)."""
    for line in _read(root / "proc/net/route").splitlines()[1:]:
        fields = line.split()
        if len(fields) > 7 and fields[1] == "00000000" and fields[7] == "00000000":
            return True
    return any(line.split()[:2] == ["0" * 32, "00"] for line in _read(root / "proc/net/ipv6_route").splitlines())


def selinux_mode(root: Path) -> str:
    """`enforcing`, `permissive` or `disabled` (no selinuxfs), as the kernel says."""
    value = _read(root / "sys/fs/selinux/enforce").strip()
    return {"1": "enforcing", "0": "permissive"}.get(value, "disabled")


def collect(root: Path, ports: list[int], disks: list[tuple[str, str]]) -> dict[str, Any]:
    """Everything the host rules judge, as plain JSON-able data (HostFacts' fields, ports raw)."""
    release = os_release(root)
    kernel = platform.release()
    names = processes(root)
    memory = meminfo_bytes(root)
    modules = module_states((*REQUIRED_MODULES, "nouveau"), root, kernel)
    listening = listening_ports(root, names)
    geteuid = getattr(os, "geteuid", None)
    return {
        "cpu_cores": os.cpu_count() or 1,
        "memory_bytes": memory.get("MemTotal", 0),
        "swap_bytes": memory.get("SwapTotal", 0),
        "os_id": release.get("ID", "unknown"),
        "os_version": release.get("VERSION_ID", ""),
        "os_name": release.get("PRETTY_NAME", platform.platform()),
        "kernel": kernel,
        "arch": platform.machine(),
        "cgroup_version": cgroup_version(root),
        "modules": {name: modules[name] for name in REQUIRED_MODULES},
        "nouveau_loaded": modules["nouveau"] == "loaded",
        "nvidia_pci_devices": nvidia_pci_devices(root),
        "disks": [disk(purpose, Path(path)) for purpose, path in disks],
        "ports": [{"port": port, "in_use": port in listening, "process": listening.get(port)} for port in ports],
        "existing": existing_runtimes(root, set(names.values())),
        "time_sync": time_sync(root, set(names.values()), kernel_clock_maxerror_us() if root == Path("/") else None),
        "is_root": geteuid is None or geteuid() == 0,
        "default_route": default_route(root),
        "selinux": selinux_mode(root),
    }


def main(argv: list[str]) -> int:
    request = json.loads(argv[1]) if len(argv) > 1 else {}
    facts = collect(Path("/"), [int(port) for port in request.get("ports", [])], request.get("disks", []))
    if request.get("nvidia_smi"):
        facts["nvidia_smi"] = nvidia_smi()
    print(json.dumps(facts))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

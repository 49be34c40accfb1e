"""Pure preflight verdicts: facts + answers (+ bundle manifest) -> checks, each failing one with a remedy.

Thresholds are named constants so that the README and the tests quote the same numbers.
"""

from __future__ import annotations

from collections.abc import Iterator

from greenzone.answers.model import Answers
from greenzone.answers.problems import Problem
from greenzone.answers.rules import Context, check_rules
from greenzone.bundle.manifest import Manifest
from greenzone.preflight.facts_model import Facts, GpuFacts, HostFacts, NvmlFacts
from greenzone.preflight.probe import K3S_PROCESS_NAMES
from greenzone.results import Check, Status, verdict

GiB = 1024**3
MIN_CPU_CORES, GOOD_CPU_CORES = 4, 8
MIN_MEMORY, GOOD_MEMORY = 16 * GiB, 32 * GiB
MIN_STATE_FREE = 2 * GiB
MIN_K3S_FREE = 50 * GiB  # k3s, Harbor's storage and the images before any model weights
MIN_DRIVER_MAJOR = 535  # CUDA 12.2: the oldest driver the GPU operator's and vLLM's current images run on
HOT_MARGIN_C = 5  # warn this close to the slowdown threshold
DEFAULT_SLOWDOWN_C = 90  # when NVML does not report the GPU's own threshold
USABLE_VRAM_FRACTION = 0.9  # vLLM's default gpu_memory_utilization; Ollama keeps a similar margin
BUSY_VRAM_FRACTION = 0.1
SUPPORTED_OS = {"ubuntu": ("22.04", "24.04", "26.04")}
"""The GPU operator v26.7's validated platforms for K3s (NVIDIA cloud-native-docs, gpu-operator/
platform-support.rst: K3s rows exist for Ubuntu 22.04, 24.04 and 26.04 only; RHEL, Rocky and Debian
have none), with a preinstalled driver or its precompiled driver images."""
BUNDLE_MACHINES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}


def _gib(value: int) -> str:
    return f"{value / GiB:.1f} GiB"


def _check(name: str, status: Status, detail: str, remedy: str = "", group: str = "host") -> Check:
    return verdict(name, status, detail, remedy, group)


PORT_PURPOSES = {
    6443: "k3s API server",
    10250: "kubelet",
    80: "HTTP ingress",
    443: "HTTPS ingress",
    2379: "etcd client",
    2380: "etcd peer",
}
"""What needs each port; a port the answers add (Harbor's) that is not here is the registry's."""


APPLIANCE_PROCESSES = (*K3S_PROCESS_NAMES, "traefik", "harbor-core")
"""Who may hold the appliance's ports on a re-run: what an earlier install started."""


def required_ports(answers: Answers | None) -> dict[int, str]:
    ports = {port: PORT_PURPOSES[port] for port in (6443, 10250, 80, 443)}
    if answers is not None:
        ports.setdefault(answers.registry.port, "Harbor registry")
        if sum(node.role == "server" for node in answers.nodes) > 1:
            ports.update({port: PORT_PURPOSES[port] for port in (2379, 2380)})
    return ports


# --- host ---------------------------------------------------------------------------------------


def _tier(value: int, minimum: int, good: int) -> Status:
    """Below `minimum` fails, below `good` warns: the shape of every sizing check."""
    return Status.FAIL if value < minimum else Status.WARN if value < good else Status.PASS


def host_checks(host: HostFacts, answers: Answers | None) -> Iterator[Check]:
    cores = host.cpu_cores
    yield _check(
        "cpu",
        _tier(cores, MIN_CPU_CORES, GOOD_CPU_CORES),
        f"{cores} logical cores",
        f"k3s, Harbor and the inference engine need at least {MIN_CPU_CORES} cores, {GOOD_CPU_CORES}+ recommended",
    )
    memory = host.memory_bytes
    yield _check(
        "memory",
        _tier(memory, MIN_MEMORY, GOOD_MEMORY),
        f"{_gib(memory)} RAM",
        f"at least {_gib(MIN_MEMORY)} are needed, {_gib(GOOD_MEMORY)}+ recommended (more for CPU inference)",
    )
    if host.swap_bytes:
        yield _check(
            "swap",
            Status.WARN,
            f"{_gib(host.swap_bytes)} swap is on",
            "swap makes the kubelet's memory accounting unreliable: `swapoff -a` and remove it from /etc/fstab",
        )
    else:
        yield _check("swap", Status.PASS, "off")
    versions = SUPPORTED_OS.get(host.os_id, ())
    supported = host.os_version in versions
    yield _check(
        "os",
        Status.PASS if supported else Status.FAIL,
        f"{host.os_name} ({host.arch}, kernel {host.kernel})",
        "the GPU operator validates K3s on Ubuntu 22.04, 24.04 and 26.04 only (its platform-support page); "
        "install one of them, or accept the risk with --force-preflight os",
    )
    if host.arch not in BUNDLE_MACHINES.values():
        yield _check("arch", Status.FAIL, host.arch, "bundles are built for x86_64 and aarch64 only")
    if host.default_route is not None:
        yield _check(
            "default route",
            Status.PASS if host.default_route else Status.FAIL,
            "present" if host.default_route else "this machine has no default route",
            # k3s docs, "Air-Gap Install": nodes need a default route, even a black hole through a
            # dummy interface, to pick their node IP and for ClusterIP routing.
            "k3s needs one even without internet: add one on the site network, or a black hole "
            "(`ip link add dummy0 type dummy && ip link set dummy0 up && ip route add default dev dummy0 metric 1000`)",
        )
    if host.selinux == "enforcing":
        yield _check(
            "selinux",
            Status.FAIL,
            "SELinux is enforcing",
            "an air-gapped k3s install skips the k3s-selinux policy RPM and the GPU operator validates K3s "
            "on Ubuntu only: use a supported Ubuntu, or set SELinux permissive",
        )
    cgroup = host.cgroup_version
    yield _check(
        "cgroup",
        Status.PASS if cgroup == 2 else Status.WARN,
        f"cgroup v{cgroup}" if cgroup else "cgroup version unknown",
        "boot with cgroup v2 (systemd.unified_cgroup_hierarchy=1); v1 is deprecated by Kubernetes",
    )
    for module, state in host.modules.items():
        if state in ("loaded", "builtin"):
            yield _check(f"module {module}", Status.PASS, state)
        elif state == "available":
            yield _check(
                f"module {module}",
                Status.WARN,
                "available but not loaded",
                f"`modprobe {module}` and add it to /etc/modules-load.d/greenzone.conf",
            )
        else:
            yield _check(
                f"module {module}",
                Status.FAIL if state == "missing" else Status.WARN,
                f"kernel module {state}",
                f"install the kernel's extra modules package so that `modprobe {module}` works",
            )
    if host.nouveau_loaded:
        yield _check(
            "nouveau",
            Status.FAIL,
            "the open-source nouveau driver is loaded and blocks the NVIDIA driver",
            "blacklist nouveau (/etc/modprobe.d/blacklist-nouveau.conf), `update-initramfs -u`, reboot",
        )
    for disk in host.disks:
        need = MIN_STATE_FREE if disk.purpose == "state dir" else MIN_K3S_FREE
        where = disk.path if disk.path == disk.measured_at else f"{disk.path} (on {disk.measured_at})"
        yield _check(
            f"disk {disk.purpose}",
            Status.PASS if disk.free_bytes >= need else Status.FAIL,
            f"{_gib(disk.free_bytes)} free at {where}",
            f"free at least {_gib(need)} there, or mount a larger volume at {disk.path}",
        )
    for port in host.ports:
        if not port.in_use:
            yield _check(f"port {port.port}", Status.PASS, f"free ({port.purpose})")
        elif port.process in APPLIANCE_PROCESSES:
            yield _check(f"port {port.port}", Status.PASS, f"used by {port.process} from an earlier install")
        elif port.process is None and "k3s" in host.existing:
            # Without root the owner cannot be read; on a node k3s already runs on, it is k3s's.
            yield _check(f"port {port.port}", Status.PASS, "in use; k3s is installed here (an earlier install)")
        else:
            yield _check(
                f"port {port.port}",
                Status.FAIL,
                f"in use by {port.process or 'another process'}; {port.purpose} needs it",
                f"stop that service (`ss -ltnp 'sport = :{port.port}'` shows it) or move it to another port",
            )
    for runtime in host.existing:
        if runtime == "k3s":
            yield _check(
                "existing k3s",
                Status.WARN,
                "k3s is already installed",
                "greenzone will reconfigure it; if another team owns it, install on a clean machine",
            )
        else:
            yield _check(
                f"existing {runtime}",
                Status.WARN,
                f"{runtime} is installed and may hold ports, iptables rules or GPUs",
                f"stop and disable {runtime} unless it must keep running beside the appliance",
            )
    sync = host.time_sync
    yield _check(
        "time sync",
        Status.PASS if sync in ("synchronized", "service running") else Status.WARN,
        f"clock {sync}",
        "certificates and etcd need a correct clock: point chrony at a time source on the site network",
    )
    if not host.is_root:
        yield _check("root", Status.WARN, "not running as root", "run `sudo greenzone preflight` for complete facts")


# --- GPUs ---------------------------------------------------------------------------------------


def nvml_unreachable(nvml: NvmlFacts, pci: tuple[str, ...], answers: Answers | None) -> Check:
    """Why NVML cannot be used, told apart by its error and by what is on the PCI bus."""
    seen = f"{len(pci)} NVIDIA GPU(s) on the PCI bus ({', '.join(pci)})" if pci else "no NVIDIA GPU on the PCI bus"
    operator = answers is not None and answers.gpu.driver == "operator"
    if nvml.state == "no_library":
        if operator and pci:
            return _check(
                "nvidia driver",
                Status.PASS,
                f"no driver on the host; {seen}; the GPU operator will install it",
                group="gpu",
            )
        return _check(
            "nvidia driver",
            Status.FAIL,
            f"no NVIDIA driver: {nvml.detail}; {seen}",
            f"install the NVIDIA datacenter driver (>= {MIN_DRIVER_MAJOR}) and reboot, or set `gpu.driver: operator`"
            if pci
            else "this machine has no NVIDIA GPU: run greenzone on the GPU server",
            "gpu",
        )
    remedies = {
        "driver_not_loaded": "`modprobe nvidia`; if that fails, check `dmesg` and reinstall the driver for this kernel",
        "version_mismatch": "the driver was upgraded without a reboot: reboot the machine",
        "no_permission": "run as root, or check the permissions of /dev/nvidia*",
        "error": "check `nvidia-smi` and `dmesg` for the driver's own error",
    }
    return _check("nvidia driver", Status.FAIL, f"{nvml.detail}; {seen}", remedies[nvml.state], "gpu")


def gpu_condition_checks(gpu: GpuFacts) -> Iterator[Check]:
    """The GPU's own condition (lost, temperature, ECC, row remapping), judged the same way before an
    install and by `greenzone health` on a running appliance."""
    name = gpu.label
    if gpu.lost:
        yield _check(
            name,
            Status.FAIL,
            "the GPU fell off the bus while it was queried (NVML: GPU is lost)",
            "reboot; if it happens again check power, cooling and `dmesg` for Xid 79, then call the vendor",
            "gpu",
        )
        return
    if gpu.errors:
        yield _check(
            f"{name} facts",
            Status.WARN,
            "; ".join(gpu.errors),
            f"check `nvidia-smi -q -i {gpu.index}`",
            "gpu",
        )
    if gpu.temperature_c is not None:
        slowdown = gpu.slowdown_temperature_c or DEFAULT_SLOWDOWN_C
        temperature = gpu.temperature_c
        status = (
            Status.FAIL
            if temperature >= slowdown
            else Status.WARN
            if temperature >= slowdown - HOT_MARGIN_C
            else Status.PASS
        )
        yield _check(
            f"{name} temperature",
            status,
            f"{temperature} °C (slows down at {slowdown} °C)",
            "check the server's airflow, fans and room cooling before putting load on it",
            "gpu",
        )
    if gpu.ecc_uncorrected_volatile:
        yield _check(
            f"{name} ECC",
            Status.FAIL,
            f"{gpu.ecc_uncorrected_volatile} uncorrectable ECC error(s) since the driver loaded",
            f"drain the GPU, reset it (`nvidia-smi -r -i {gpu.index}`); if errors return, replace it",
            "gpu",
        )
    elif gpu.ecc_current is False:
        yield _check(f"{name} ECC", Status.WARN, "ECC is off", f"`nvidia-smi -i {gpu.index} -e 1` and reboot", "gpu")
    elif gpu.ecc_current:
        yield _check(f"{name} ECC", Status.PASS, "on, no uncorrectable errors", group="gpu")
    if gpu.ecc_current is not None and gpu.ecc_pending is not None and gpu.ecc_current != gpu.ecc_pending:
        yield _check(f"{name} ECC pending", Status.WARN, "an ECC mode change waits for a reboot", "reboot", "gpu")
    rows = gpu.remapped_rows
    if rows is not None:
        if rows.failed:
            yield _check(
                f"{name} row remapping",
                Status.FAIL,
                "row remapping failed: the memory cannot be repaired",
                "replace the GPU (RMA)",
                "gpu",
            )
        elif rows.pending:
            yield _check(
                f"{name} row remapping",
                Status.WARN,
                f"{rows.uncorrected} row(s) wait to be remapped",
                f"reset the GPU (`nvidia-smi -r -i {gpu.index}`) or reboot to apply it",
                "gpu",
            )


def _gpu_checks(gpu: GpuFacts, answers: Answers | None) -> Iterator[Check]:
    yield from gpu_condition_checks(gpu)
    if gpu.lost:
        return
    name = gpu.label
    strategy = answers.gpu.mig_strategy if answers else None
    if gpu.mig_current and strategy == "none":
        yield _check(
            f"{name} MIG",
            Status.FAIL,
            "MIG is enabled on this GPU but gpu.mig_strategy is none",
            f"set gpu.mig_strategy to single or mixed, or `nvidia-smi -i {gpu.index} -mig 0`",
            "gpu",
        )
    if gpu.mig_current is not None and gpu.mig_pending is not None and gpu.mig_current != gpu.mig_pending:
        yield _check(
            f"{name} MIG pending",
            Status.WARN,
            "a MIG mode change waits for a GPU reset",
            f"`nvidia-smi -r -i {gpu.index}`",
            "gpu",
        )
    if gpu.memory_total and gpu.memory_used is not None and gpu.memory_used > BUSY_VRAM_FRACTION * gpu.memory_total:
        yield _check(
            f"{name} memory",
            Status.WARN,
            f"{_gib(gpu.memory_used)} of {_gib(gpu.memory_total)} already in use",
            "another process holds GPU memory: `nvidia-smi` lists it; stop it before installing",
            "gpu",
        )
    if gpu.persistence_mode is False and (answers is None or answers.gpu.driver == "preinstalled"):
        yield _check(
            f"{name} persistence",
            Status.WARN,
            "persistence mode is off: the first request after idle pays the driver's start-up",
            "enable nvidia-persistenced (`systemctl enable --now nvidia-persistenced`)",
            "gpu",
        )


def gpu_checks(nvml: NvmlFacts, host: HostFacts, answers: Answers | None) -> Iterator[Check]:
    if nvml.state != "ok":
        yield nvml_unreachable(nvml, host.nvidia_pci_devices, answers)
        return
    major = int((nvml.driver_version or "0").split(".")[0] or 0)
    yield _check(
        "nvidia driver",
        Status.PASS if major >= MIN_DRIVER_MAJOR else Status.FAIL,
        f"driver {nvml.driver_version}, CUDA {nvml.cuda_driver_version or 'unknown'}",
        f"upgrade the NVIDIA driver to {MIN_DRIVER_MAJOR} or newer",
        "gpu",
    )
    count = len(nvml.gpus)
    expected = answers.gpu.expected_count if answers else None
    if count == 0:
        yield _check(
            "gpus",
            Status.FAIL,
            "the driver sees no GPU",
            "check `nvidia-smi` and `lspci | grep -i nvidia`",
            "gpu",
        )
    elif expected is not None and count < expected:
        yield _check(
            "gpus",
            Status.FAIL,
            f"{count} GPU(s) found, the answers expect {expected}",
            "check that every GPU is seated and powered (`nvidia-smi -L`), or lower gpu.expected_count",
            "gpu",
        )
    else:
        yield _check("gpus", Status.PASS, f"{count} GPU(s)", group="gpu")
    for gpu in nvml.gpus:
        yield from _gpu_checks(gpu, answers)


# --- the requested appliance against this machine ----------------------------------------------


def driver_image_check(host: HostFacts, driver_images: list[str]) -> Check:
    """With `gpu.driver: operator`, a GPU node's running kernel needs its precompiled driver image
    in the bundle: the operator's ordinary driver container would download kernel packages."""
    from greenzone.values.gpu_operator import DRIVER_BRANCH, driver_for, precompiled_drivers

    drivers = precompiled_drivers(driver_images)
    found = driver_for(host.kernel, host.os_id, host.os_version, drivers)
    if found is not None:
        return _check(
            "driver image", Status.PASS, f"precompiled R{found.branch} for kernel {host.kernel} in the bundle"
        )
    carried = ", ".join(sorted(f"{d.kernel} ({d.os_tag}, R{d.branch})" for d in drivers)) or "none"
    return _check(
        "driver image",
        Status.FAIL,
        f"kernel {host.kernel} ({host.os_id} {host.os_version}) has no precompiled R{DRIVER_BRANCH} driver image "
        f"in the bundle; it carries: {carried}",
        "boot a kernel the bundle carries, have the bundle built with this kernel's image "
        f"(nvcr.io/nvidia/driver:{DRIVER_BRANCH}-{host.kernel}-{host.os_id}{host.os_version}), "
        "or use `gpu.driver: preinstalled`",
    )


def bundle_machines(manifest: Manifest) -> list[str]:
    """The machine types a bundle carries (its images' platforms, its runtime files' names)."""
    carried = {image_platform for image in manifest.images for image_platform in image.platforms}
    for item in manifest.files:
        carried |= {machine for machine in BUNDLE_MACHINES.values() if f"-{machine}-" in item.path}
    return sorted({BUNDLE_MACHINES.get(platform, platform) for platform in carried})


def bundle_platform_check(host: HostFacts, manifest: Manifest | list[str]) -> Check:
    """A node runs what the bundle carries for its architecture: its runtime and images are built
    for the lock's platforms. `manifest` may be the machine list already taken from it (a node's
    preflight gets that list, not the manifest)."""
    machines = set(bundle_machines(manifest) if isinstance(manifest, Manifest) else manifest)
    if not machines or host.arch in machines:
        return _check(
            "bundle platform", Status.PASS, f"{host.arch}: carried by the bundle" if machines else "not recorded"
        )
    return _check(
        "bundle platform",
        Status.FAIL,
        f"this machine is {host.arch}; the bundle carries {', '.join(sorted(machines))}",
        f"ask the vendor for a bundle built for {host.arch} (the lock's `platforms`)",
    )


def fit_checks(facts: Facts, answers: Answers, manifest: Manifest | None) -> Iterator[Check]:
    inference = answers.inference
    if manifest is not None:
        yield bundle_platform_check(facts.host, manifest)
        if answers.gpu.driver == "operator" and facts.host.nvidia_pci_devices:
            yield driver_image_check(facts.host, [image.ref for image in manifest.images])
    healthy = [gpu for gpu in facts.nvml.gpus if not gpu.lost and gpu.memory_total]
    for problem in _gpu_count_problems(answers, len(facts.nvml.gpus) if facts.nvml.state == "ok" else None):
        yield _check(problem.key, Status.FAIL, problem.message, problem.hint, "answers")
    for model_name in inference.models:
        model = manifest.model_named(model_name) if manifest else None
        if model is None:
            reason = "no bundle manifest was readable" if manifest is None else "the bundle does not list it"
            yield _check(
                f"model {model_name}",
                Status.SKIP,
                f"memory need unknown: {reason}",
                "give --bundle DIR (or a bundle.path that exists here) to check that the model fits",
                "models",
            )
            continue
        if inference.gpus_per_replica == 0:
            free = facts.host.memory_bytes
            yield _check(
                f"model {model_name}",
                Status.PASS if model.vram_bytes <= free * USABLE_VRAM_FRACTION else Status.FAIL,
                f"runs on CPU: needs {_gib(model.vram_bytes)} of {_gib(free)} RAM",
                "add RAM, use a smaller model, or give it a GPU (inference.gpus_per_replica)",
                "models",
            )
            continue
        if not healthy:
            yield _check(
                f"model {model_name}",
                Status.SKIP,
                "no GPU memory known on this machine",
                "fix the GPU checks first",
                "models",
            )
            continue
        smallest = min(healthy, key=lambda gpu: gpu.memory_usable or 0)
        per_gpu = smallest.memory_usable or 0
        usable = int(per_gpu * inference.gpus_per_replica * USABLE_VRAM_FRACTION)
        detail = (
            f"needs {_gib(model.vram_bytes)} per replica; {inference.gpus_per_replica} × {smallest.name} "
            f"({_gib(per_gpu)}) give {_gib(usable)} usable"
        )
        yield _check(
            f"model {model_name}",
            Status.PASS if model.vram_bytes <= usable else Status.FAIL,
            detail,
            "raise inference.gpus_per_replica, choose a smaller or more quantised model, or use larger GPUs",
            "models",
        )


def _gpu_count_problems(answers: Answers, gpus_present: int | None) -> list[Problem]:
    """Answer rules that only the real GPU count can settle (quotas, GPUs for the replicas)."""
    if gpus_present is None:
        return []
    before = {(p.key, p.message) for p in check_rules(answers, Context())}
    return [p for p in check_rules(answers, Context(gpus_present=gpus_present)) if (p.key, p.message) not in before]


def preflight_checks(facts: Facts, answers: Answers | None, manifest: Manifest | None) -> tuple[Check, ...]:
    checks = [*gpu_checks(facts.nvml, facts.host, answers), *host_checks(facts.host, answers)]
    if answers is not None:
        checks.extend(fit_checks(facts, answers, manifest))
    return tuple(checks)

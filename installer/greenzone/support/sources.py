"""What a support bundle collects, one collector per source; each reads only local files, local
commands and the appliance's own API and registry (nothing here reaches beyond the site).

The health collector runs `greenzone health` once and records both its report and the views its
readers saw (nodes, pods, the GPU operator, Harbor and the images it holds by digest, NVML, the
kernel's Xid lines, disks, certificates): `analyze` judges those with health's own verdicts. The
other collectors add what health does not read: the state directory's history and logs, the host's
journal, memory, mounts and clock, and the cluster's events, workloads, Helm release metadata and
container logs.
"""

from __future__ import annotations

import datetime
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from greenzone import __version__
from greenzone.answers.model import Answers
from greenzone.health.targets import Targets
from greenzone.statedir import StateDir
from greenzone.support.collect import Collector, Sink, Skipped

LOG_TAIL_BYTES = 2 * 2**20
CONTAINER_LOG_LINES = 300
JOURNAL_LINES = 20000
COMMAND_TIMEOUT = 10.0


@dataclass(frozen=True)
class Site:
    state: StateDir
    answers: Answers | None
    targets: Targets | None
    why_no_targets: str
    since: datetime.datetime
    health_budget: float


def collectors(site: Site, budget: float) -> list[Collector]:
    return [
        Collector("greenzone", lambda sink: _greenzone(site, sink), min(budget, 10), _GREENZONE),
        Collector("health", lambda sink: _health(site, sink), min(budget, site.health_budget + 2), _HEALTH),
        Collector("host", lambda sink: _host(site, sink), min(budget, 30), _HOST),
        Collector("cluster", lambda sink: _cluster(site, sink, min(budget, 45)), min(budget, 45), _CLUSTER),
        Collector("nodes", lambda sink: _nodes(site, sink, min(budget, 45)), min(budget, 45), _NODES),
    ]


_GREENZONE = "version, install state, logs (tails), installed answers and bundle manifest, credentials file's presence"
_HEALTH = "one `greenzone health` run: its report and the views its readers saw (nodes, pods, Harbor, NVML, Xids)"
_HOST = "preflight facts (NVML, disks, OS), NVIDIA kernel lines, k3s journal since --since, memory, mounts, clock"
_NODES = "every other node over the install's SSH path: memory, mounts, disks, NVIDIA kernel lines, k3s journal, clock, nvidia-smi -q"
_CLUSTER = "events, Deployments/DaemonSets/StatefulSets, Helm release metadata, container logs (current and previous)"


def _tail(path: Path, limit: int = LOG_TAIL_BYTES) -> str:
    with path.open("rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - limit))
        data = handle.read()
    text = data.decode("utf-8", "replace")
    return text if size <= limit else f"[... the first {size - limit} bytes left out ...]\n" + text


def _greenzone(site: Site, sink: Sink) -> None:
    state = site.state
    sink.json(
        "version.json",
        {
            "greenzone": __version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "state_dir": str(state),
        },
    )
    files = {
        "install-state.json": state.install_state,
        "answers.yaml": state.installed_answers,
        "bundle.yaml": state.installed_manifest,
        "last-health.json": state.last_health,
    }
    for name, path in files.items():
        if path.is_file():
            sink.text(name, _tail(path))
    # Each upgrade's record (outcome, Helm revisions) and plan (values differences masked already);
    # the previous answers and values it keeps are the same kind as those above and stay out.
    if state.upgrades_dir.is_dir():
        for folder in sorted(path for path in state.upgrades_dir.iterdir() if path.is_dir()):
            for name in ("record.json", "plan.json"):
                if (folder / name).is_file():
                    sink.text(f"upgrades/{folder.name}/{name}", _tail(folder / name))
    logs = [state.install_log, state.log_file, *sorted(state.logs_dir.glob("*.log"))] if state.logs_dir.is_dir() else []
    for path in dict.fromkeys(logs):
        if path.is_file():
            sink.text(f"logs/{path.name}", _tail(path))
    credentials = state.credentials
    sink.json(
        "credentials-file.json",
        {
            "path": str(credentials),
            "present": credentials.is_file(),
            "mode": oct(credentials.stat().st_mode & 0o777) if credentials.is_file() else None,
            "content": "never collected",
        },
    )


def _health(site: Site, sink: Sink) -> None:
    from greenzone.health.recorded import views_to_json
    from greenzone.health.run import run_health

    if site.targets is None:
        raise Skipped(site.why_no_targets)
    run = run_health(site.targets, budget=site.health_budget)
    sink.json("report.json", run.report.to_dict())
    sink.json("views.json", scrub(views_to_json(run.views)))


def scrub(value: Any) -> Any:
    """Container environment values out of recorded pod specs (a password set as a plain `value`
    is the most common secret in a pod spec); the names and `valueFrom` references stay."""
    if isinstance(value, dict):
        cleaned = {key: scrub(item) for key, item in value.items()}
        if "name" in cleaned and "value" in cleaned and set(cleaned) <= {"name", "value", "valueFrom"}:
            cleaned["value"] = "(not collected)"
        return cleaned
    if isinstance(value, list):
        return [scrub(item) for item in value]
    return value


def _run(sink: Sink, command: Sequence[str], timeout: float = COMMAND_TIMEOUT) -> str:
    """A local command's output, or why there is none; the command is killed at its timeout."""
    try:
        done = sink.run(command, timeout)
    except FileNotFoundError:
        return f"({command[0]} is not installed here)\n"
    except subprocess.TimeoutExpired:
        return f"({' '.join(command)} gave no result within {timeout:g} s)\n"
    return done.stdout + (f"\n(exit {done.returncode}: {done.stderr.strip()[:500]})\n" if done.returncode else "")


def _host(site: Site, sink: Sink) -> None:
    from greenzone.health.readers.host import read_kernel_log
    from greenzone.preflight.gather import gather_facts

    sink.json("facts.json", gather_facts(None, site.state).to_dict())
    lines, error = read_kernel_log()
    if lines is None:
        sink.note(f"kernel log: {error}")
    else:
        nvidia = [line for line in lines if "NVRM" in line or "nvidia" in line.lower() or "Xid" in line]
        sink.text("kernel-nvidia.txt", "\n".join(nvidia[-5000:]) + "\n")
    since = site.since.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    journal = ["journalctl", "--no-pager", "-o", "short-iso", "-n", str(JOURNAL_LINES), "--since", since]
    sink.text("journal-k3s.txt", _run(sink, [*journal, "-u", "k3s", "-u", "k3s-agent"], timeout=20))
    for name in ("meminfo", "mounts", "uptime", "loadavg"):
        path = Path("/proc") / name
        if path.is_file():
            sink.text(f"{name}.txt", path.read_text(errors="replace"))
    sink.json("disks.json", _disks(site))
    sink.json(
        "clock.json",
        {
            "collected_at": datetime.datetime.now(datetime.UTC).isoformat(),
            "timedatectl": _run(sink, ["timedatectl", "show"]),
            "chronyc": _run(sink, ["chronyc", "-n", "tracking"]),
        },
    )


def _disks(site: Site) -> list[dict[str, Any]]:
    """Preflight's own disk reading (the nearest existing directory), with the inodes beside it."""
    from greenzone.preflight.facts_model import K3S_DATA_DIR
    from greenzone.preflight.probe import disk
    from greenzone.values.ours import MODEL_STORE_DIR

    found = []
    for purpose, path in (
        ("k3s data dir", K3S_DATA_DIR),
        ("model store", MODEL_STORE_DIR),
        ("state dir", site.state.root),
    ):
        measured = disk(purpose, Path(path))
        stats = os.statvfs(measured["measured_at"])
        found.append({**measured, "free_inodes": stats.f_favail, "total_inodes": stats.f_files})
    return found


_PARTIAL_METADATA = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


def _cluster(site: Site, sink: Sink, timeout: float) -> None:
    from greenzone.health.readers.cluster import KubeReads, reason
    from greenzone.health.readers.deadline import Deadline

    targets = site.targets
    if targets is None:
        raise Skipped(site.why_no_targets)
    reads = KubeReads(targets, Deadline(max(1.0, timeout - 1)), parallel=4)
    if reads.error:
        raise Skipped(reads.error)
    namespaces = list(dict.fromkeys([*targets.namespaces, targets.operator_namespace, "kube-system"]))

    def items(path: str, accept: str = "application/json") -> list[Any]:
        return list(reads.json(path, accept).get("items") or [])

    def listed(path: str, what: str, accept: str = "application/json") -> list[Any]:
        """A list the API refused or could not give is a note, not the end of the collector."""
        try:
            return items(path, accept)
        except Exception as error:
            sink.note(f"{what}: {reason(error)}")
            return []

    try:
        reads.json("/version")
    except Exception as error:
        raise RuntimeError(f"the Kubernetes API at {reads.server} did not answer: {reason(error)}") from None
    if sink.redactor.hide_addresses:  # the Nodes' real names, before anything that mentions them
        sink.redactor.add_host_names(
            str((node.get("metadata") or {}).get("name") or "") for node in listed("/api/v1/nodes", "nodes")
        )

    # Helm keeps each release in a Secret: only its metadata is asked for (the API never sends the data).
    releases = listed("/api/v1/secrets?labelSelector=" + quote("owner=helm"), "Helm releases", _PARTIAL_METADATA)
    sink.json("helm-releases.json", [_release(item) for item in releases])
    events: list[Any] = []
    workloads: dict[str, list[Any]] = {}
    pods: list[Any] = []
    for namespace in namespaces:
        events += listed(f"/api/v1/namespaces/{namespace}/events", f"events in {namespace}")
        pods += listed(f"/api/v1/namespaces/{namespace}/pods", f"pods in {namespace}")
        for kind in ("deployments", "daemonsets", "statefulsets"):
            found = listed(f"/apis/apps/v1/namespaces/{namespace}/{kind}", f"{kind} in {namespace}")
            workloads.setdefault(kind, []).extend(_workload(item) for item in found)
    events += listed("/api/v1/events?fieldSelector=" + quote("involvedObject.kind=Node"), "node events")
    sink.json("events.json", sorted((_event(item) for item in events), key=lambda event: str(event["last"])))
    sink.json("workloads.json", workloads)
    _container_logs(reads, pods, sink)


def _release(item: Any) -> dict[str, Any]:
    metadata = item.get("metadata") or {}
    labels = metadata.get("labels") or {}
    return {
        "namespace": metadata.get("namespace"),
        "release": labels.get("name"),
        "revision": labels.get("version"),
        "status": labels.get("status"),
        "modified": labels.get("modifiedAt") or metadata.get("creationTimestamp"),
    }


def _event(item: Any) -> dict[str, Any]:
    involved = item.get("involvedObject") or {}
    return {
        "namespace": (item.get("metadata") or {}).get("namespace"),
        "object": f"{involved.get('kind')}/{involved.get('name')}",
        "type": item.get("type"),
        "reason": item.get("reason"),
        "message": item.get("message"),
        "count": item.get("count"),
        "last": item.get("lastTimestamp")
        or item.get("eventTime")
        or (item.get("metadata") or {}).get("creationTimestamp"),
    }


def _workload(item: Any) -> dict[str, Any]:
    """What says how a workload is doing, without its pod template's environment."""
    metadata = item.get("metadata") or {}
    template = ((item.get("spec") or {}).get("template") or {}).get("spec") or {}
    return {
        "namespace": metadata.get("namespace"),
        "name": metadata.get("name"),
        "generation": metadata.get("generation"),
        "replicas": (item.get("spec") or {}).get("replicas"),
        "containers": [
            {"name": container.get("name"), "image": container.get("image"), "resources": container.get("resources")}
            for container in [*(template.get("initContainers") or []), *(template.get("containers") or [])]
        ],
        "status": item.get("status"),
    }


def _container_logs(reads: Any, pods: list[Any], sink: Sink) -> None:
    from greenzone.health.signatures import container_statuses

    wanted = []
    for pod in pods:
        metadata = pod.get("metadata") or {}
        statuses = {status.get("name"): status for status in container_statuses(pod)}
        for name, status in statuses.items():
            wanted.append((metadata.get("namespace"), metadata.get("name"), name, False))
            if int(status.get("restartCount") or 0) > 0:
                wanted.append((metadata.get("namespace"), metadata.get("name"), name, True))

    def fetch(item: tuple[str, str, str, bool]) -> None:
        namespace, pod, container, previous = item
        path = (
            f"/api/v1/namespaces/{namespace}/pods/{pod}/log?container={quote(container)}"
            f"&tailLines={CONTAINER_LOG_LINES}" + ("&previous=true" if previous else "")
        )
        try:
            text = reads.raw(path, "text/plain").decode("utf-8", "replace")
        except Exception as error:
            text = f"(no log: {error})\n"
        suffix = ".previous" if previous else ""
        # Every container's log loses the lines that carry request or answer text, not only the
        # engine's: the chat UI and any proxy log bodies too.
        sink.text(f"logs/{namespace}/{pod}/{container}{suffix}.log", text, engine_log=True)

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(fetch, wanted))


def local_host_names() -> list[str]:
    """This machine's name, without asking DNS (`getfqdn` can wait seconds on an offline site)."""
    name = socket.gethostname()
    return [name, name.split(".")[0]] if name and name != "localhost" else []


_SECTION = "=== greenzone-section "
NODE_SCRIPT = """
section() { echo "=== greenzone-section $1"; }
section meminfo; cat /proc/meminfo
section mounts; cat /proc/mounts
section disks; df -P; df -Pi
section os-release; cat /etc/os-release 2>&1
section hostname; cat /etc/hostname 2>&1
section kernel-nvidia; (dmesg 2>/dev/null || journalctl -k --no-pager 2>/dev/null) | grep -E 'NVRM|Xid|nvidia' | tail -n 5000
section journal-k3s; journalctl --no-pager -o short-iso -n LINES --since @SINCE -u k3s -u k3s-agent 2>&1
section clock; timedatectl show 2>&1; chronyc -n tracking 2>&1
section nvidia-smi; nvidia-smi -q 2>&1 | head -n 3000
"""
"""Read-only commands a node runs for the support bundle, in one SSH session; what a node lacks
(no journalctl in a container, no nvidia-smi on an agent without GPUs) says so in its section."""


def _nodes(site: Site, sink: Sink, timeout: float) -> None:
    """The host collectors on every other node, over the SSH path the install uses (the answers'
    user, port and key, Ansible's host-key policy), each node bounded by the collector's time."""
    from greenzone.deploy.inventory import inventory_name

    if site.answers is None:
        raise Skipped(site.why_no_targets)
    remote = [
        (inventory_name(node, index), node) for index, node in enumerate(site.answers.nodes) if node.address != "local"
    ]
    if not remote:
        raise Skipped("every node of the answers is this machine: the host collector covers it")
    script = NODE_SCRIPT.replace("LINES", str(JOURNAL_LINES)).replace("SINCE", str(int(site.since.timestamp())))
    started = datetime.datetime.now()

    def one(item: tuple[str, Any]) -> None:
        name, node = item
        left = max(1.0, timeout - (datetime.datetime.now() - started).total_seconds() - 0.5)
        command = [
            "ssh", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"ConnectTimeout={max(1, min(10, int(left)))}", "-p", str(node.ssh.port),
            *(["-i", str(node.ssh.key_file)] if node.ssh.key_file else []),
            f"{node.ssh.user}@{node.address}", "sh -s" if node.ssh.user == "root" else "sudo -n sh -s",
        ]  # fmt: skip
        try:
            done = sink.run(command, left, stdin=script)
        except subprocess.TimeoutExpired:
            sink.note(f"{name}: no answer over SSH within {left:.0f} s")
            return
        except FileNotFoundError:
            sink.note(f"{name}: ssh is not installed here")
            return
        if _SECTION not in done.stdout:
            sink.note(
                f"{name}: SSH to {node.ssh.user}@{node.address}:{node.ssh.port} failed: {done.stderr.strip()[:300]}"
            )
            return
        for block in done.stdout.split(_SECTION)[1:]:
            section, _, body = block.partition("\n")
            sink.text(f"{name}/{section.strip()}.txt", body)

    with ThreadPoolExecutor(min(8, len(remote))) as pool:
        list(pool.map(one, remote))

"""What the playbooks' own modules (`playbooks/library/greenzone_*.py`) do, as typed functions.

The modules are thin: they parse Ansible's arguments, call one function here and hand its result
back, so the logic is linted, type-checked and unit-tested with the rest of the package. Each
function runs on the installing machine (the tasks delegate to localhost), where the bundle, the
credentials file and the installer's kubeconfig live, and each reports `changed` honestly so that a
second run of the playbook reports zero changes. `check=True` computes the answer without writing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenzone import yamlpos
from greenzone.atomic import scratch_directory
from greenzone.bundle.hashing import sha256_file
from greenzone.bundle.manifest import read_manifest
from greenzone.bundle.oci import Layout, write_archive
from greenzone.bundle.registry import Credentials, Registry, push_layout
from greenzone.deploy.credentials import load_credentials
from greenzone.deploy.workloads import not_ready_pods, release_action, secret_differs
from greenzone.refs import mirror_repository
from greenzone.values.secrets import department_key_manifests, gateway_keys_manifest, secret_manifests


@dataclass
class ModuleResult:
    changed: bool
    message: str
    details: dict[str, Any] = field(default_factory=dict)
    failed: bool = False


def bootstrap_archive(bundle: Path, dest: Path, *, check: bool = False) -> ModuleResult:
    """The bundle's bootstrap images as one OCI archive for k3s's agent images directory."""
    refs = [image.ref for image in read_manifest(bundle).images if image.bootstrap]
    with scratch_directory(".greenzone-archive-", dest.parent if dest.parent.is_dir() else None) as work:
        built = work / dest.name
        write_archive(Layout(bundle / "images"), refs, built)
        digest = sha256_file(built).sha256
        same = dest.is_file() and sha256_file(dest).sha256 == digest
        if not same and not check:
            built.replace(dest)
    details = {"images": refs, "sha256": digest, "path": str(dest)}
    verb = "is up to date" if same else ("would be written" if check else "written")
    return ModuleResult(not same, f"bootstrap archive with {len(refs)} images {verb}", details)


def push_images(
    bundle: Path,
    registry_url: str,
    *,
    ca_file: Path | None,
    credentials_file: Path | None,
    harbor: bool = True,
    check: bool = False,
) -> ModuleResult:
    """Every image of the bundle's layout into the registry, digests unchanged, present blobs skipped."""
    credentials = None
    if credentials_file is not None:
        stored = load_credentials(credentials_file)
        credentials = Credentials("admin", stored["harbor_admin_password"])
    registry = Registry(registry_url, credentials=credentials, ca_file=ca_file)
    layout = Layout(bundle / "images")
    created: list[str] = []
    if harbor and credentials and not check:
        from greenzone.cluster.harbor import ensure_projects

        projects = sorted({mirror_repository(image.ref)[0].split("/")[0] for image in layout.index() if image.ref})
        created = ensure_projects(registry_url, projects, credentials, ca_file=ca_file)
    if check:
        missing = [
            image.ref
            for image in layout.index()
            if image.ref and not registry.has_manifest(mirror_repository(image.ref)[0], image.digest)
        ]
        return ModuleResult(bool(missing), f"{len(missing)} images would be pushed", {"images": missing})
    stats = push_layout(layout, registry, mirror_repository)
    changed = stats.uploaded + stats.mounted > 0 or bool(created)
    return ModuleResult(
        changed,
        f"{len(stats.images)} images in the registry; {stats.uploaded} blobs uploaded, {stats.skipped} already there",
        {
            "uploaded": stats.uploaded,
            "skipped": stats.skipped,
            "mounted": stats.mounted,
            "images": stats.images,
            "projects_created": created,
        },
    )


def apply_secrets(
    release: str,
    namespace: str,
    credentials_file: Path,
    kubeconfig: Path,
    *,
    check: bool = False,
    values_file: Path | None = None,
) -> ModuleResult:
    """With `values_file` (the guardrails release's, after it is installed): the departments' key
    Secrets in the namespaces that release created; without: the Secrets the release reads."""
    from greenzone.cluster.kube import Kube

    kube = Kube(kubeconfig)
    credentials = load_credentials(credentials_file)
    if values_file is None:
        wanted = secret_manifests(release, namespace, credentials)
        if not check and wanted:
            kube.ensure_namespace(namespace)
    else:
        values = _values([values_file], {})
        inference_namespace = str(values.get("inference", {}).get("namespace"))
        # The gateway's digests too, so a department added by this phase alone is known to the gateway.
        wanted = [
            gateway_keys_manifest(inference_namespace, credentials),
            *department_key_manifests(values.get("departments") or [], inference_namespace, credentials),
        ]
    changed = []
    for manifest in wanted:
        metadata = manifest["metadata"]
        name, where = str(metadata["name"]), str(metadata["namespace"])  # type: ignore[index]
        existing = kube.secret(where, name)
        if secret_differs(existing, manifest):
            changed.append(name if where == namespace else f"{where}/{name}")
            if not check:
                kube.put_secret(manifest, exists=existing is not None)
    return ModuleResult(bool(changed), f"Secrets changed: {', '.join(changed) or 'none'}", {"changed": changed})


def _values(values_files: list[Path], extra: dict[str, Any]) -> dict[str, Any]:
    from greenzone.values.releases import merge

    merged: dict[str, Any] = {}
    for path in values_files:
        merged = merge(merged, yamlpos.data(path.read_text(encoding="utf-8"), str(path)) or {})
    return merge(merged, extra)


async def _release(
    helm: Path,
    kubeconfig: Path,
    release: str,
    chart_path: Path,
    namespace: str,
    values: dict[str, Any],
    timeout: str,
    check: bool,
) -> ModuleResult:
    from pyhelm3 import Client
    from pyhelm3.errors import Error as HelmError

    from greenzone.cluster.helm import deployed

    client = Client(executable=str(helm), kubeconfig=kubeconfig)
    chart = await client.get_chart(chart_path)
    current, _ = await deployed(client, release, namespace)
    action, why = release_action(current, str(chart.metadata.version), values)
    details = {"action": action, "reason": why, "chart_version": str(chart.metadata.version)}
    if action == "none" or check:
        return ModuleResult(action != "none", f"{release}: {action} ({why})", details)
    try:
        await client.install_or_upgrade_release(
            release, chart, values, namespace=namespace, atomic=True, wait=True, timeout=timeout
        )
    except HelmError as error:
        from greenzone.cluster.kube import Kube

        stuck = not_ready_pods(Kube(kubeconfig).pods(namespace))
        details["not_ready"] = "; ".join(stuck)
        message = str(error).strip().splitlines()[-1:] or [type(error).__name__]
        return ModuleResult(
            True,
            f"{release} did not become ready within {timeout}: {message[0]}"
            + (f"; not ready: {details['not_ready']}" if stuck else ""),
            details,
            failed=True,
        )
    return ModuleResult(True, f"{release}: {action}ed chart {chart.metadata.version} ({why})", details)


def helm_release(
    *,
    helm: Path,
    kubeconfig: Path,
    release: str,
    chart: Path,
    namespace: str,
    values_files: list[Path],
    extra_values: dict[str, Any],
    timeout: str = "10m",
    check: bool = False,
) -> ModuleResult:
    """Install or upgrade one release from a bundle chart archive and wait for its workloads."""
    from greenzone.cluster.helm import run_bounded
    from greenzone.cluster.kube import api_server

    values = _values(values_files, extra_values)
    return run_bounded(
        _release(helm, kubeconfig, release, chart, namespace, values, timeout, check),
        timeout,
        f"the Kubernetes API at {api_server(kubeconfig)}",
        f"helm install of {release}",
    )


def probe_source() -> str:
    """The fact probe's own source, run on a node as `python3 -c` (greenzone is not installed there)."""
    from greenzone.preflight import probe

    return Path(probe.__file__).read_text(encoding="utf-8")


def probe_request(ports: list[int], k3s_data_dir: str, *, gpu: bool) -> str:
    return json.dumps({"ports": sorted(ports), "disks": [["k3s data dir", k3s_data_dir]], "nvidia_smi": gpu})


def node_preflight(
    node: str,
    rc: int,
    stdout: str,
    stderr: str,
    *,
    forced: list[str],
    driver_images: list[str] | None = None,
    machines: list[str] | None = None,
) -> ModuleResult:
    """The probe's output on `node` judged by the preflight rules; forced failures become warnings."""
    from greenzone.preflight.node import node_gate, refusal

    try:
        raw = json.loads(stdout.strip().splitlines()[-1]) if rc == 0 and stdout.strip() else None
    except ValueError:
        raw = None
    if raw is None:
        tail = " / ".join((stderr or stdout).strip().splitlines()[-3:]) or f"exit {rc}"
        return ModuleResult(
            False,
            f"could not run the fact probe on {node}: {tail}. Fix: make sure the node has python3 (3.7 or "
            "newer) and that the SSH user may become root",
            failed=True,
        )
    gate = node_gate(raw, forced, driver_images, machines)
    details = {
        "checks": [check.to_dict() for check in gate.checks],
        "warnings": [f"{check.name}: {check.detail}" for check in gate.checks if check.status.value == "warn"],
    }
    if gate.blocking:
        return ModuleResult(False, refusal(node, gate), details, failed=True)
    return ModuleResult(False, f"{node}: {len(gate.checks)} checks, none blocks the install", details)

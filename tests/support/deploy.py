"""A small but complete test bundle and the answers that point at it, for the playbook tests.

The bundle has the real layout and a real, sealed manifest (sha256 of every file): a stand-in k3s
binary, air-gap archive and install.sh (small files; nothing here can run k3s), a helm tarball
holding a stand-in helm, our two charts packaged by the real helm, stand-in archives for the three
third-party charts (they cannot be downloaded here), an OCI layout with two bootstrap images and one
that goes to Harbor, and an Ollama-style model directory.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import yaml
from tests.support.charts import CHARTS, helm_path, our_chart

import greenzone
from greenzone.atomic import write_bytes_atomic
from greenzone.bundle.manifest import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    BundleImage,
    BundleModel,
    Component,
    read_manifest,
)
from greenzone.bundle.oci import Layout, add_image
from greenzone.bundle.seal import seal
from greenzone.bundle.sign import keygen, load_private_key, sign_bytes

BOOTSTRAP = ("nvcr.io/nvidia/gpu-operator:v25.10.1", "docker.io/goharbor/harbor-core:v2.15.1")
PUSHED = ("docker.io/ollama/ollama:0.12.10",)


def _write(path: Path, data: bytes, mode: int = 0o644) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(mode)
    return path.as_posix()


def _tgz(path: Path, members: dict[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))


def make_bundle(
    out: Path,
    *,
    site_from: Path | None = None,
    extra_models: tuple[BundleModel, ...] = (),
    k3s: str = "v1.34.1+k3s1",
    pushed: tuple[str, ...] = PUSHED,
    product_version: str | None = None,
    signed_like: Path | None = None,
) -> Path:
    """A signed bundle of stand-ins; `site_from` (a bundle `bundle build` made) adds what the site
    bootstrap needs from it: the Python runtime, the wheels and `install.sh`. `extra_models` are
    listed in the manifest beside the Ollama model (their files are not needed where they are used).
    A later version of a bundle: another `k3s` version, other `pushed` images, signed with the vendor
    key of the bundle `signed_like` (as a vendor ships bundle after bundle). An image's content
    follows from its reference, so two bundles carrying one reference carry one digest."""
    out.mkdir(parents=True)
    components = [
        Component(name="k3s", version=k3s, kind="binary", paths=["bin/k3s"]),
        Component(
            name="k3s-airgap-images",
            version=k3s,
            kind="archive",
            paths=["k3s/k3s-airgap-images-amd64.tar.zst"],
        ),
        Component(name="k3s-install", version=k3s, kind="script", paths=["k3s/install.sh"]),
        Component(name="helm", version="v4.1.4", kind="archive", paths=["bin/helm-v4.1.4-linux-amd64.tar.gz"]),
    ]
    # The role runs `k3s --version`: the script ends before its random tail, which only makes each
    # bundle's binary differ (a shell reading on into random bytes could run anything).
    _write(out / "bin/k3s", b"#!/bin/sh\necho 'stand-in k3s'\nexit 0\n" + os.urandom(64 * 1024), 0o755)
    _write(out / "k3s/k3s-airgap-images-amd64.tar.zst", os.urandom(256 * 1024))
    _write(out / "k3s/install.sh", b"#!/bin/sh\necho 'stand-in install.sh'\nexit 1\n", 0o755)
    _tgz(out / "bin/helm-v4.1.4-linux-amd64.tar.gz", {"linux-amd64/helm": b"#!/bin/sh\necho stand-in helm\n"})
    for chart in ("greenzone-inference", "greenzone-guardrails"):
        subprocess.run(
            [str(helm_path()), "package", str(CHARTS / chart), "--destination", str(out / "charts")],
            check=True,
            capture_output=True,
        )
        version, archive = our_chart(chart)
        components.append(Component(name=chart, version=version, kind="chart", paths=[archive]))
    for chart, version in (("gpu-operator", "v25.10.1"), ("harbor", "1.19.1"), ("kube-prometheus-stack", "88.5.3")):
        _tgz(out / f"charts/{chart}-{version}.tgz", {f"{chart}/Chart.yaml": f"name: {chart}\n".encode()})
        components.append(Component(name=chart, version=version, kind="chart", paths=[f"charts/{chart}-{version}.tgz"]))
    layout = Layout(out / "images")
    layout.init()
    images = []
    for ref in BOOTSTRAP + pushed:
        descriptor = add_image(layout, ref, [hashlib.sha256(ref.encode()).digest() * 128])
        images.append(BundleImage(ref=ref, digest=descriptor.digest, bootstrap=ref in BOOTSTRAP))
    components.append(Component(name="images", version=str(len(images)), kind="image", paths=["images"]))
    model_paths = [
        _write(out / "models/ollama/manifests/registry.ollama.ai/library/gemma3/4b", b'{"layers": []}\n'),
        _write(out / f"models/ollama/blobs/sha256-{'ab' * 32}", os.urandom(128 * 1024)),
    ]
    components.append(
        Component(
            name="gemma3:4b",
            version="files",
            kind="model",
            paths=[Path(path).relative_to(out).as_posix() for path in model_paths],
        )
    )
    if site_from is not None:
        for component in read_manifest(site_from).components:
            if component.kind in ("runtime", "wheel") or component.name == "bootstrap":
                for relative in component.paths:
                    (out / relative).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(site_from / relative, out / relative)
                components.append(component)
    seal(
        out,
        product_version=product_version or greenzone.__version__,
        components=components,
        images=images,
        models=[
            BundleModel(name="gemma3:4b", engine="ollama", size_bytes=128 * 1024, vram_bytes=4 * 2**30),
            *extra_models,
        ],
        jobs=1,
    )
    if signed_like is not None:
        sign_bundle_with(out, signed_like.with_name(signed_like.name + ".key"))
        shutil.copy2(public_key(signed_like), public_key(out))
    else:
        sign_bundle(out)
    return out


def public_key(bundle: Path) -> Path:
    """The vendor key lives beside the bundle, as on a real USB drive (inside it would be an extra file)."""
    return bundle.with_name(bundle.name + ".pub")


def sign_bundle(bundle: Path) -> Path:
    """Sign the manifest with a fresh vendor key, as `greenzone bundle sign` does; returns the public key."""
    private = bundle.with_name(bundle.name + ".key")
    keygen(private, public_key(bundle))
    sign_bundle_with(bundle, private)
    return public_key(bundle)


def sign_bundle_with(bundle: Path, private: Path) -> None:
    raw = (bundle / MANIFEST_NAME).read_bytes()
    write_bytes_atomic(bundle / SIGNATURE_NAME, sign_bytes(load_private_key(private), raw))


def answers_text(bundle: Path, nodes: list[dict[str, Any]], *, registry_port: int | None = None) -> str:
    document = {
        "version": 1,
        "appliance": {"name": "test-appliance"},
        "nodes": nodes,
        "network": {"hostname": "ai.test.internal"},
        "bundle": {"path": str(bundle), "public_key": str(public_key(bundle))},
        "inference": {"engine": "ollama", "models": ["gemma3:4b"]},
        "departments": [{"name": "legal", "gpu_quota": 1, "memory_quota": "16Gi"}],
    }
    if registry_port is not None:
        document["registry"] = {"port": registry_port}
    return yaml.safe_dump(document, sort_keys=False)


def ssh_node(port: int, key: Path, *, address: str = "127.0.0.1", role: str = "server", name: str) -> dict[str, Any]:
    return {"name": name, "address": address, "role": role, "ssh": {"user": "root", "port": port, "key_file": str(key)}}

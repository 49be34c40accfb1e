"""The bundle's OCI layout and its push to a real registry (docker-registry on 127.0.0.1).

Three test images share a base layer, written straight into an OCI layout; after the push, digests
are read back with our client and independently with skopeo.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenzone.bundle.oci import Layout, add_image
from greenzone.bundle.registry import Registry, RegistryError, push_layout
from greenzone.refs import split_ref
from tests.support.cli import Run
from tests.support.registry import running_registry

BASE = os.urandom(300_000)  # the shared base layer


@pytest.fixture
def registry_url(tmp_path: Path) -> Iterator[str]:
    with running_registry(tmp_path / "registry") as url:
        yield url


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    layout = Layout(tmp_path / "images")
    layout.init()
    for name in ("ollama", "open-webui", "dcgm-exporter"):
        add_image(layout, f"docker.io/greenzone-test/{name}:1.0", [BASE, os.urandom(50_000), name.encode()])
    return layout


def _repository(ref: str) -> tuple[str, str]:
    _, repository, tag = split_ref(ref)
    return f"mirror/{repository}", tag


def test_shared_base_layer_is_stored_once(layout: Layout) -> None:
    separate, stored = layout.sizes()
    assert len(layout.index()) == 3
    assert separate - stored == 2 * len(BASE)  # the base is counted three times, stored once
    blobs = list((layout.root / "blobs" / "sha256").iterdir())
    assert len(blobs) == 1 + 3 * 2 + 3 + 3  # base, 2 own layers each, 3 configs, 3 manifests


def test_push_preserves_digests_and_second_push_uploads_nothing(layout: Layout, registry_url: str) -> None:
    registry = Registry(registry_url)
    first = push_layout(layout, registry, _repository)
    assert first.manifests == 3 and len(first.images) == 3
    # 10 distinct blobs (base, 2 own layers each, 3 configs) are uploaded once each; the base is
    # mounted into the two other repositories instead of being sent again.
    assert (first.uploaded, first.mounted) == (10, 2)
    assert first.bytes_uploaded == len(BASE) + sum(
        d.size
        for image in layout.index()
        for d in layout.children(image)
        if d.digest != "sha256:" + hashlib.sha256(BASE).hexdigest()
    )
    for image in layout.index():
        assert image.ref is not None
        repository, tag = _repository(image.ref)
        _, body = registry.get_manifest(repository, tag)
        assert "sha256:" + hashlib.sha256(body).hexdigest() == image.digest
    second = push_layout(layout, registry, _repository)
    assert (second.uploaded, second.mounted, second.bytes_uploaded) == (0, 0, 0)
    assert second.skipped == 12


def test_skopeo_sees_the_same_digest(layout: Layout, registry_url: str) -> None:
    skopeo = shutil.which("skopeo")
    assert skopeo, "skopeo is needed (.ci/setup installs it)"
    push_layout(layout, Registry(registry_url), _repository)
    image = layout.index()[0]
    assert image.ref is not None
    repository, tag = _repository(image.ref)
    host = registry_url.removeprefix("http://")
    raw = subprocess.run(
        [skopeo, "inspect", "--raw", "--tls-verify=false", f"docker://{host}/{repository}:{tag}"],
        capture_output=True,
        check=True,
    ).stdout
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == image.digest
    assert json.loads(raw)["layers"][0]["size"] == len(BASE)


def test_unreachable_registry_is_a_clear_error(layout: Layout) -> None:
    from tests.support.registry import free_port

    with pytest.raises(RegistryError, match="cannot reach"):
        push_layout(layout, Registry(f"http://127.0.0.1:{free_port()}", timeout=2), _repository)


def test_registry_url_needs_a_scheme() -> None:
    from greenzone.errors import InputError

    with pytest.raises(InputError, match="no scheme"):
        Registry("registry.local:5000")


def test_split_ref() -> None:
    assert split_ref("busybox") == ("docker.io", "library/busybox", "latest")
    assert split_ref("nvcr.io/nvidia/gpu-operator:v24.9.2") == ("nvcr.io", "nvidia/gpu-operator", "v24.9.2")
    assert split_ref("localhost:5000/a/b:c") == ("localhost:5000", "a/b", "c")
    digest = "sha256:" + "0" * 64
    assert split_ref(f"ghcr.io/x/y:1@{digest}") == ("ghcr.io", "x/y", digest)


def test_inspect_reports_images_savings_and_models(layout: Layout, run_cli: Run) -> None:
    from greenzone.bundle.manifest import BundleModel, Component
    from greenzone.bundle.seal import seal

    bundle = layout.root.parent
    seal(
        bundle,
        components=[Component(name="k3s", version="v1.33.1+k3s1", kind="binary", paths=[])],
        models=[BundleModel(name="gemma3:4b", engine="ollama", size_bytes=3_338_801_804, vram_bytes=6 * 2**30)],
    )
    result = run_cli("bundle", "inspect", str(bundle))
    assert result.returncode == 0, result.stderr
    assert "k3s" in result.stdout and "v1.33.1+k3s1" in result.stdout
    assert "docker.io/greenzone-test/ollama:1.0" in result.stdout
    assert "shared layers save 0.6 MiB" in result.stdout  # the 300 kB base stored once instead of 3 times
    assert "gemma3:4b" in result.stdout and "needs 6.0 GiB GPU memory" in result.stdout
    info = json.loads(run_cli("bundle", "inspect", "--json", str(bundle)).stdout)
    assert info["images_bytes_separate"] - info["images_bytes_stored"] == 2 * len(BASE)

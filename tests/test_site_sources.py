"""Where a running appliance keeps each file of its bundle (bundle/site_sources.py), and the state
directory's copies of what no node or registry keeps (bundle/kept.py): pure rules, and real files."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

from greenzone.bundle.kept import keep_installed_files
from greenzone.bundle.manifest import BundleFile, Component, Manifest
from greenzone.bundle.site_sources import K3S_ON_NODES, MODELS_ON_NODES, describe, kept_in_state, locate_all
from greenzone.errors import InputError
from tests.support.paths import REPO

ROLES = REPO / "installer" / "greenzone" / "playbooks" / "roles"
LAYER = b"a layer"
BLOB = f"images/blobs/sha256/{hashlib.sha256(LAYER).hexdigest()}"


def _file(path: str, data: bytes = b"") -> BundleFile:
    data = data or path.encode()
    return BundleFile(path=path, size=len(data), sha256=hashlib.sha256(data).hexdigest())


def _manifest(version: str = "1.0.0", chart: bytes = b"chart 1") -> Manifest:
    files = [
        _file("bin/k3s"),
        _file("k3s/k3s-airgap-images-amd64.tar.zst"),
        _file("k3s/install.sh"),
        _file("bin/helm-v4.1.4-linux-amd64.tar.gz"),
        _file("charts/harbor-1.19.1.tgz", chart),
        _file("images/index.json"),
        _file("images/oci-layout"),
        _file(BLOB, LAYER),
        _file(f"images/blobs/sha256/{'0' * 64}"),  # named for other bytes than the manifest's: never asked for
        _file("models/ollama/manifests/registry.ollama.ai/library/gemma3/4b"),
        _file("runtime/cpython.tar.gz"),
        _file("wheels/greenzone-0.1.0-py3-none-any.whl"),
        _file("install.sh"),
    ]
    components = [
        Component(name="k3s", version="v1.35.9+k3s1", kind="binary", paths=["bin/k3s"]),
        Component(
            name="k3s-airgap-images", version="v1", kind="archive", paths=["k3s/k3s-airgap-images-amd64.tar.zst"]
        ),
        Component(name="k3s-install", version="v1", kind="script", paths=["k3s/install.sh"]),
        Component(name="helm", version="v4.1.4", kind="archive", paths=["bin/helm-v4.1.4-linux-amd64.tar.gz"]),
        Component(name="harbor", version="1.19.1", kind="chart", paths=["charts/harbor-1.19.1.tgz"]),
        Component(name="images", version="1", kind="image", paths=["images"]),
        Component(name="gemma3:4b", version="files", kind="model", paths=[files[9].path]),
        Component(name="python", version="3.11", kind="runtime", paths=["runtime/cpython.tar.gz"]),
        Component(name="wheels", version="1", kind="wheel", paths=["wheels/greenzone-0.1.0-py3-none-any.whl"]),
        Component(name="bootstrap", version="0.1.0", kind="script", paths=["install.sh"]),
    ]
    return Manifest(format_version=1, product_version=version, components=components, files=files)


def test_each_file_is_looked_for_where_the_install_put_it() -> None:
    manifest = _manifest()
    found = {site.file.path: site for site in locate_all(manifest, manifest.files)}
    assert {path: (site.source, site.node_path) for path, site in found.items()} == {
        "bin/k3s": ("node", "/usr/local/bin/k3s"),
        "k3s/k3s-airgap-images-amd64.tar.zst": (
            "node",
            "/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst",
        ),
        "k3s/install.sh": ("node", "/usr/local/share/greenzone/k3s-install.sh"),
        "bin/helm-v4.1.4-linux-amd64.tar.gz": ("state", ""),
        "charts/harbor-1.19.1.tgz": ("state", ""),
        "images/index.json": ("state", ""),
        "images/oci-layout": ("state", ""),
        BLOB: ("registry", ""),
        f"images/blobs/sha256/{'0' * 64}": ("state", ""),
        "models/ollama/manifests/registry.ollama.ai/library/gemma3/4b": (
            "gpu-node",
            "/var/lib/greenzone/bundle/models/ollama/manifests/registry.ollama.ai/library/gemma3/4b",
        ),
    }  # the drive's bootstrap (runtime, wheels, install.sh) is always carried: never looked for
    assert found["bin/k3s"].mode == 0o755 and found["k3s/install.sh"].mode == 0o755
    assert found["k3s/k3s-airgap-images-amd64.tar.zst"].mode == 0o644
    assert found[BLOB].digest == f"sha256:{hashlib.sha256(LAYER).hexdigest()}"
    assert "1 from Harbor" in describe(list(found.values())) and "5 from the state directory" in describe(
        list(found.values())
    )


def test_the_paths_on_the_nodes_are_the_roles_own() -> None:
    k3s = yaml.safe_load((ROLES / "k3s" / "defaults" / "main.yml").read_text())
    inference = yaml.safe_load((ROLES / "inference" / "defaults" / "main.yml").read_text())
    assert {
        "k3s": k3s["k3s_binary_dest"],
        "k3s-airgap-images": k3s["k3s_images_dir"] + "/",
        "k3s-install": k3s["k3s_install_script_dest"],
    } == K3S_ON_NODES
    assert inference["inference_models_dest"] == MODELS_ON_NODES


def _bundle(root: Path, manifest: Manifest, chart: bytes) -> Path:
    for item in manifest.files:
        path = root / item.path
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(
            chart if item.path.startswith("charts/") else LAYER if item.path == BLOB else item.path.encode()
        )
    return root


def test_the_state_keeps_the_running_and_the_previous_versions_copies(tmp_path: Path) -> None:
    store = tmp_path / "state" / "bundle-files"
    one, two, three = (_manifest(f"{n}.0.0", f"chart {n}".encode()) for n in (1, 2, 3))
    bundles = [_bundle(tmp_path / f"b{n}", m, f"chart {n}".encode()) for n, m in ((1, one), (2, two), (3, three))]

    copied = keep_installed_files(store, bundles[0], one, [])
    assert sorted(copied) == sorted(item.sha256 for item in kept_in_state(one))
    assert keep_installed_files(store, bundles[0], one, []) == []  # a second run copies nothing
    keep_installed_files(store, bundles[1], two, [one])
    chart = {
        m.product_version: next(f for f in m.files if f.path.startswith("charts/")).sha256 for m in (one, two, three)
    }
    assert {path.name for path in store.iterdir()} >= {chart["1.0.0"], chart["2.0.0"]}  # a rollback returns to 1
    keep_installed_files(store, bundles[2], three, [two, one])  # 1.0.0 not finalized: a rollback may return
    assert {chart["1.0.0"], chart["2.0.0"], chart["3.0.0"]} <= {path.name for path in store.iterdir()}
    keep_installed_files(store, bundles[2], three, [two])
    names = {path.name for path in store.iterdir()}
    assert chart["1.0.0"] not in names and {chart["2.0.0"], chart["3.0.0"]} <= names
    for path in store.iterdir():  # each copy is the bytes its name says
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name

    # A damaged bundle file is named, never kept under the manifest's name.
    four = _manifest("4.0.0", b"chart 4")
    damaged = _bundle(tmp_path / "b4", four, b"chart 4")
    (damaged / "charts/harbor-1.19.1.tgz").write_bytes(b"not chart 4")
    with pytest.raises(InputError, match=r"harbor-1\.19\.1\.tgz"):
        keep_installed_files(store, damaged, four, [three])
    assert hashlib.sha256(b"chart 4").hexdigest() not in {path.name for path in store.iterdir()}

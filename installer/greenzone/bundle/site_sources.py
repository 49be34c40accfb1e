"""Where a running appliance keeps each file of its bundle, so that a delta bundle can be made whole
from the site itself once the base bundle's drive is gone.

A delta leaves out the files its base carried with the same bytes. The site kept most of them, where
the install put them, byte for byte and checked against the manifest then:

- every blob of the image layout is in Harbor (the install pushed every image, digests kept);
- the k3s binary, its air-gap images archive and its install script are on every node (the k3s
  role's own paths: `playbooks/roles/k3s/defaults/main.yml`, kept equal by a test);
- the model files are on every GPU node, as the inference role copied them
  (`inference_models_dest`);
- what no node or registry keeps as such (the charts' archives, helm's archive, the layout's
  `index.json` and `oci-layout`) the state directory keeps a copy of, named by its sha256
  (`StateDir.bundle_files`, written whenever a bundle is installed).

The drive's own bootstrap (the Python runtime, the wheels, install.sh) is never left out of a delta,
so it is never looked for here. Every file brought back is hashed against the delta's signed
manifest before it takes its name: a site copy that changed is named, never used.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import Literal

from greenzone.bundle.delta import ALWAYS_CARRIED_KINDS, ALWAYS_CARRIED_NAMES
from greenzone.bundle.manifest import BundleFile, Manifest

#: The image layout's blobs, each named by its sha256: Harbor serves them by digest.
BLOBS = "images/blobs/sha256/"
#: Where the k3s role installs each k3s file on every node (a folder: the archive keeps its name).
K3S_ON_NODES = {
    "k3s": "/usr/local/bin/k3s",
    "k3s-airgap-images": "/var/lib/rancher/k3s/agent/images/",
    "k3s-install": "/usr/local/share/greenzone/k3s-install.sh",
}
#: Where the inference role copies the bundle's `models/` on every GPU node.
MODELS_ON_NODES = "/var/lib/greenzone/bundle/models"
MODELS = "models/"

Source = Literal["registry", "node", "gpu-node", "state"]


@dataclass(frozen=True)
class SiteFile:
    """One file of a bundle and the place on site that keeps the same bytes."""

    file: BundleFile
    source: Source
    node_path: str = ""
    """On a node (`node`: any node; `gpu-node`: a GPU node): the absolute path."""
    mode: int = 0o644
    """The bundle's mode for it (a node's copy or a fetched blob has its own)."""

    @property
    def digest(self) -> str:
        return f"sha256:{self.file.sha256}"

    @property
    def where(self) -> str:
        if self.source == "registry":
            return f"Harbor, blob {self.digest}"
        if self.source == "state":
            return "the state directory's copy"
        return f"{'a GPU node' if self.source == 'gpu-node' else 'a node'}, {self.node_path}"


def _owners(manifest: Manifest) -> dict[str, tuple[str, str]]:
    """Each listed path's component (name, kind); a component's path may be a folder (`images`)."""
    owners: dict[str, tuple[str, str]] = {}
    for component in manifest.components:
        for path in component.paths:
            owners[path.rstrip("/")] = (component.name, component.kind)
    return owners


def _owner(owners: dict[str, tuple[str, str]], path: str) -> tuple[str, str]:
    probe = path
    while probe:
        if probe in owners:
            return owners[probe]
        probe = posixpath.dirname(probe)
    return ("", "")


def locate(manifest: Manifest, item: BundleFile, owners: dict[str, tuple[str, str]] | None = None) -> SiteFile | None:
    """Where the site keeps `item` of `manifest`; None for the drive's own bootstrap, which no site
    copy is needed for (a delta always carries it)."""
    name, kind = _owner(owners if owners is not None else _owners(manifest), item.path)
    if kind in ALWAYS_CARRIED_KINDS or name in ALWAYS_CARRIED_NAMES:
        return None
    if item.path.startswith(BLOBS) and item.path.count("/") == 3 and posixpath.basename(item.path) == item.sha256:
        return SiteFile(item, "registry")
    if name in K3S_ON_NODES:
        target = K3S_ON_NODES[name]
        path = target + posixpath.basename(item.path) if target.endswith("/") else target
        return SiteFile(item, "node", path, 0o755 if kind in ("binary", "script") else 0o644)
    if item.path.startswith(MODELS):
        return SiteFile(item, "gpu-node", posixpath.join(MODELS_ON_NODES, item.path.removeprefix(MODELS)))
    return SiteFile(item, "state")


def locate_all(manifest: Manifest, items: list[BundleFile]) -> list[SiteFile]:
    owners = _owners(manifest)
    found = (locate(manifest, item, owners) for item in items)
    return [site for site in found if site is not None]


def kept_in_state(manifest: Manifest) -> list[BundleFile]:
    """The files of `manifest` that only the state directory's copy keeps on site."""
    return [site.file for site in locate_all(manifest, manifest.files) if site.source == "state"]


def tally(found: list[SiteFile]) -> dict[Source, tuple[int, int]]:
    """Files and bytes by source, for a plan's one line."""
    counts: dict[Source, tuple[int, int]] = {}
    for site in found:
        files, size = counts.get(site.source, (0, 0))
        counts[site.source] = (files + 1, size + site.file.size)
    return counts


SOURCE_WORDS: dict[Source, str] = {
    "registry": "from Harbor",
    "node": "from a node's k3s files",
    "gpu-node": "from a GPU node's models",
    "state": "from the state directory",
}


def describe(found: list[SiteFile]) -> str:
    return ", ".join(
        f"{files} {SOURCE_WORDS[source]} ({size / 2**20:.1f} MiB)" for source, (files, size) in tally(found).items()
    )

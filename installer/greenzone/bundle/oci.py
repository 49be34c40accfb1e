"""One OCI image layout (`images/`) holding every image of the bundle, each blob stored once.

The layout format is the OCI image spec's: `oci-layout`, `index.json` naming each image by the
`org.opencontainers.image.ref.name` annotation, and content-addressed `blobs/sha256/<hex>`. Layers
shared by several images (a common base, CUDA runtime layers) are therefore stored a single time.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenzone.atomic import temporary_beside, write_bytes_atomic, write_text_atomic

REF_ANNOTATION = "org.opencontainers.image.ref.name"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
INDEX_TYPES = (INDEX, DOCKER_LIST)


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: tuple[tuple[str, str], ...] = ()

    @property
    def ref(self) -> str | None:
        return dict(self.annotations).get(REF_ANNOTATION)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Descriptor:
        return cls(
            str(data["mediaType"]),
            str(data["digest"]),
            int(data["size"]),
            tuple(sorted((data.get("annotations") or {}).items())),
        )


def sha256_hex(digest: str) -> str:
    """`sha256:<hex>` -> `<hex>`; anything else is refused before it becomes a file name."""
    algorithm, _, hexdigest = digest.partition(":")
    if algorithm != "sha256" or len(hexdigest) != 64 or any(c not in "0123456789abcdef" for c in hexdigest):
        raise ValueError(f"unsupported digest {digest!r}")
    return hexdigest


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Layout:
    def __init__(self, root: Path) -> None:
        self.root = root

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / sha256_hex(digest)

    def init(self) -> None:
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        if not (self.root / "oci-layout").exists():
            write_text_atomic(self.root / "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}))
        if not (self.root / "index.json").exists():
            self._write_index([])

    def has_blob(self, digest: str, size: int | None = None) -> bool:
        path = self.blob_path(digest)
        return path.is_file() and (size is None or path.stat().st_size == size)

    def put_blob(self, data: bytes, media_type: str) -> Descriptor:
        digest = digest_of(data)
        if not self.has_blob(digest, len(data)):
            write_bytes_atomic(self.blob_path(digest), data)
        return Descriptor(media_type, digest, len(data))

    def read_blob(self, digest: str) -> bytes:
        return self.blob_path(digest).read_bytes()

    def read_json(self, descriptor: Descriptor) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.read_blob(descriptor.digest))
        return data

    def index(self) -> list[Descriptor]:
        data = json.loads((self.root / "index.json").read_text())
        return [Descriptor.from_json(item) for item in data.get("manifests", [])]

    def _write_index(self, manifests: list[Descriptor]) -> None:
        index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": [m.to_json() for m in manifests]}
        write_text_atomic(self.root / "index.json", json.dumps(index, indent=2) + "\n")

    def tag(self, ref: str, descriptor: Descriptor) -> None:
        """Name `descriptor` `ref` in index.json, replacing an older entry of that name."""
        named = Descriptor(descriptor.media_type, descriptor.digest, descriptor.size, ((REF_ANNOTATION, ref),))
        manifests = [m for m in self.index() if m.ref != ref] + [named]
        self._write_index(manifests)

    def children(self, descriptor: Descriptor) -> list[Descriptor]:
        """Blobs a manifest or index points at (config and layers, or the per-platform manifests)."""
        if descriptor.media_type in INDEX_TYPES:
            return [Descriptor.from_json(m) for m in self.read_json(descriptor).get("manifests", [])]
        if descriptor.media_type in (MANIFEST, DOCKER_MANIFEST):
            body = self.read_json(descriptor)
            return [
                Descriptor.from_json(body["config"]),
                *(Descriptor.from_json(layer) for layer in body.get("layers", [])),
            ]
        return []

    def walk(self, descriptor: Descriptor) -> Iterator[Descriptor]:
        """Every descriptor reachable from `descriptor`, children before parents (the push order)."""
        for child in self.children(descriptor):
            if child.media_type in (*INDEX_TYPES, MANIFEST, DOCKER_MANIFEST):
                yield from self.walk(child)
            else:
                yield child
        yield descriptor

    def retain(self, refs: set[str]) -> list[str]:
        """Keep only the images named `refs` and the blobs they reach; returns the digests removed."""
        kept = [image for image in self.index() if image.ref in refs]
        self._write_index(kept)
        reachable = {item.digest for image in kept for item in self.walk(image)}
        removed = []
        for path in (self.root / "blobs" / "sha256").iterdir():
            digest = f"sha256:{path.name}"
            if digest not in reachable:
                path.unlink()
                removed.append(digest)
        return removed

    def sizes(self) -> tuple[int, int]:
        """(bytes if every image were stored on its own, bytes actually stored): the dedup saving."""
        separate = 0
        unique: dict[str, int] = {}
        for image in self.index():
            seen: dict[str, int] = {}
            for item in self.walk(image):
                seen[item.digest] = item.size
            separate += sum(seen.values())
            unique.update(seen)
        return separate, sum(unique.values())


def add_image(
    layout: Layout,
    ref: str,
    layers: list[bytes],
    *,
    config: dict[str, Any] | None = None,
    platform: str = "linux/amd64",
) -> Descriptor:
    """Write a single-platform image from raw layer blobs; used to build bundles and test images."""
    os_name, _, arch = platform.partition("/")
    layer_descriptors = [layout.put_blob(layer, LAYER) for layer in layers]
    config_body = config or {
        "architecture": arch,
        "os": os_name,
        "rootfs": {"type": "layers", "diff_ids": [digest_of(layer) for layer in layers]},
        "config": {},
    }
    config_descriptor = layout.put_blob(json.dumps(config_body, sort_keys=True).encode(), CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": MANIFEST,
        "config": config_descriptor.to_json(),
        "layers": [d.to_json() for d in layer_descriptors],
    }
    descriptor = layout.put_blob(json.dumps(manifest, sort_keys=True).encode(), MANIFEST)
    layout.tag(ref, descriptor)
    return descriptor


CONTAINERD_NAME_ANNOTATION = "io.containerd.image.name"


def write_archive(layout: Layout, refs: Iterable[str], dest: Path) -> list[str]:
    """Write the images `refs` of `layout` as one OCI archive (a tar of a smaller layout) at `dest`.

    This is what k3s imports from its agent images directory before any registry runs. The tar is
    byte-for-byte reproducible (sorted members, zero times and owners), so an unchanged image set
    gives an unchanged file and Ansible's copy reports no change. containerd names imported images
    after `io.containerd.image.name`, so each entry carries it beside the OCI ref annotation.
    Returns the refs written; a ref the layout lacks is a KeyError.
    """
    wanted = set(refs)
    images = {image.ref: image for image in layout.index() if image.ref in wanted}
    missing = wanted - set(images)
    if missing:
        raise KeyError(f"not in the bundle's images: {', '.join(sorted(missing))}")
    manifests = []
    blobs: dict[str, Descriptor] = {}
    for ref in sorted(images):
        image = images[ref]
        entry = image.to_json()
        entry["annotations"] = {REF_ANNOTATION: ref, CONTAINERD_NAME_ANNOTATION: ref}
        manifests.append(entry)
        blobs.update((item.digest, item) for item in layout.walk(image))
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": manifests}, indent=2).encode()
    members: list[tuple[str, bytes | Path]] = [
        ("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode()),
        ("index.json", index),
    ]
    members += [(f"blobs/sha256/{sha256_hex(digest)}", layout.blob_path(digest)) for digest in sorted(blobs)]
    dest.parent.mkdir(parents=True, exist_ok=True)
    with temporary_beside(dest) as (fd, tmp):
        with os.fdopen(fd, "wb") as handle, tarfile.open(fileobj=handle, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for directory in ("blobs", "blobs/sha256"):
                info = tarfile.TarInfo(directory)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 0
                tar.addfile(info)
            for name, content in members:
                info = tarfile.TarInfo(name)
                info.mode, info.mtime = 0o644, 0
                if isinstance(content, Path):
                    info.size = content.stat().st_size
                    with content.open("rb") as source:
                        tar.addfile(info, source)
                else:
                    info.size = len(content)
                    tar.addfile(info, io.BytesIO(content))
        tmp.chmod(0o644)
        tmp.replace(dest)
    return sorted(images)

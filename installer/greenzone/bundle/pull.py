"""Pulling images and Ollama models through the OCI distribution API, every byte checked.

Manifests are fetched by the digest the lock pins and re-hashed before use, so a registry that
serves something else under a tag cannot slip it into the bundle. Blobs stream to a `.part` file
and resume with HTTP Range, through the same `download.fetch` as plain files.

A multi-platform index keeps only the platforms asked for. When that is a subset, the stored index
is a new one listing just those platforms (a registry refuses an index whose manifests are absent),
and `bundle.yaml` records both digests: the upstream one the lock pinned and the one stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from greenzone.atomic import write_bytes_atomic
from greenzone.bundle.download import ChecksumMismatch, Fetched, fetch
from greenzone.bundle.oci import (
    DOCKER_MANIFEST,
    INDEX,
    INDEX_TYPES,
    MANIFEST,
    Descriptor,
    Layout,
    digest_of,
    sha256_hex,
)
from greenzone.bundle.registry import Registry
from greenzone.errors import InputError
from greenzone.parallel import map_all

Progress = Callable[[int], None]
Counter = Callable[[Fetched], None]  # told of each blob: downloaded, or already complete (`reused`)


class BlobStore(Protocol):
    def blob_path(self, digest: str) -> Path: ...


@dataclass(frozen=True)
class PulledImage:
    ref: str
    source_digest: str  # what the lock pinned (upstream manifest or index)
    digest: str  # what images/index.json names (differs when platforms were filtered out)
    platforms: tuple[str, ...]


def platform_of(entry: dict[str, Any]) -> str:
    platform = entry.get("platform") or {}
    text = f"{platform.get('os', '?')}/{platform.get('architecture', '?')}"
    return f"{text}/{platform['variant']}" if platform.get("variant") else text


def _matches(available: str, wanted: str) -> bool:
    # `linux/arm64` asks for any arm64 variant; `linux/arm64/v8` for exactly that one.
    return available == wanted or available.startswith(wanted + "/")


def select_platforms(index: dict[str, Any], wanted: list[str], ref: str) -> list[dict[str, Any]]:
    """The index entries for `wanted`, in index order; names every platform that is missing."""
    entries = [entry for entry in index.get("manifests", []) if isinstance(entry, dict)]
    chosen = [entry for entry in entries if any(_matches(platform_of(entry), want) for want in wanted)]
    missing = [want for want in wanted if not any(_matches(platform_of(entry), want) for entry in chosen)]
    if missing:
        available = sorted({platform_of(entry) for entry in entries})
        raise InputError(
            f"{ref} has no image for {', '.join(missing)}",
            hint=f"it offers {', '.join(available) or 'no platforms'}; change `platforms:` for it in the lock",
        )
    return chosen


def fetch_manifest(registry: Registry, repository: str, digest: str, ref: str) -> tuple[str, bytes]:
    media_type, body = registry.get_manifest(repository, digest)
    got = digest_of(body)
    if got != digest:
        raise ChecksumMismatch(
            f"{ref}: the registry served manifest {got}, the lock pins {digest}",
            hint="the registry or a proxy altered the manifest; check it before trusting this source",
        )
    declared = json.loads(body).get("mediaType")
    return str(declared or media_type), body


def pull_blob(
    registry: Registry,
    repository: str,
    blob: Descriptor,
    store: BlobStore,
    progress: Progress | None = None,
    on_blob: Counter | None = None,
) -> bool:
    """Fetch one blob into `store` unless it is already there; True when bytes were downloaded."""
    fetched = fetch(
        f"{registry.base}/v2/{repository}/blobs/{blob.digest}",
        store.blob_path(blob.digest),
        blob.digest.removeprefix("sha256:"),
        progress=progress,
        request_for=lambda offset: registry.blob_request(repository, blob.digest, offset),
        opener=registry.open,
        reauthenticate=lambda: registry.renew(repository, blob.digest),
        known_size=blob.size,
    )
    if fetched.size != blob.size:
        raise ChecksumMismatch(
            f"{repository}: blob {blob.digest} has {fetched.size} bytes, its manifest says {blob.size}",
            hint="the manifest and its blob disagree; check the upstream image",
        )
    if on_blob:
        on_blob(fetched)
    return not fetched.reused


def _blobs_of(manifest: dict[str, Any]) -> list[Descriptor]:
    return [Descriptor.from_json(manifest["config"]), *(Descriptor.from_json(layer) for layer in manifest["layers"])]


@dataclass(frozen=True)
class ImageSource:
    """One image the lock pins, and where to pull it from."""

    registry: Registry
    repository: str
    ref: str
    digest: str
    platforms: list[str]


@dataclass(frozen=True)
class _Manifests:
    """An image's manifests, fetched and checked, before any of its blobs."""

    source: ImageSource
    media_type: str
    body: bytes
    chosen: list[dict[str, Any]]  # the index entries kept; empty for a single-platform image
    images: list[tuple[str, str, bytes]]  # (digest, media type, body) of each image manifest


def _manifests(source: ImageSource) -> _Manifests:
    ref, registry, repository = source.ref, source.registry, source.repository
    media_type, body = fetch_manifest(registry, repository, source.digest, ref)
    if media_type in INDEX_TYPES:
        chosen = select_platforms(json.loads(body), source.platforms, ref)
        wanted = [(entry["digest"], *fetch_manifest(registry, repository, entry["digest"], ref)) for entry in chosen]
    else:
        chosen, wanted = [], [(source.digest, media_type, body)]
    for digest, kind, _ in wanted:
        if kind not in (MANIFEST, DOCKER_MANIFEST):
            raise InputError(f"{ref}: {digest} is a {kind}, not an image manifest", hint="pin an image manifest")
    return _Manifests(source, media_type, body, chosen, wanted)


def pull_images(
    sources: list[ImageSource],
    layout: Layout,
    *,
    jobs: int = 4,
    progress: Progress | None = None,
    on_blob: Counter | None = None,
) -> list[PulledImage]:
    """Pull every image into `layout`, in three steps so that the bytes move at the link's speed:
    all manifests first (small, checked against their digests); then each distinct blob once,
    `jobs` at a time, across images, so a base layer shared by ten images is fetched once and a
    slow layer never holds up the others; then manifests and tags in the lock's order, so the
    layout only names images whose every blob is in place."""
    trees = map_all(_manifests, sources, jobs)
    blobs: dict[str, tuple[ImageSource, Descriptor]] = {}
    for tree in trees:
        for _, _, body in tree.images:
            for blob in _blobs_of(json.loads(body)):
                blobs.setdefault(blob.digest, (tree.source, blob))

    def one(item: tuple[ImageSource, Descriptor]) -> bool:
        source, blob = item
        return pull_blob(source.registry, source.repository, blob, layout, progress, on_blob)

    # Biggest first: the longest downloads start at once instead of last, behind the small ones.
    map_all(one, sorted(blobs.values(), key=lambda item: -item[1].size), jobs)
    return [_store(tree, layout) for tree in trees]


def _store(tree: _Manifests, layout: Layout) -> PulledImage:
    ref, digest = tree.source.ref, tree.source.digest
    for _, media_type, body in tree.images:
        layout.put_blob(body, media_type)
    if not tree.chosen:
        (_, media_type, body) = tree.images[0]
        config = json.loads(layout.read_blob(Descriptor.from_json(json.loads(body)["config"]).digest))
        layout.tag(ref, Descriptor(media_type, digest, len(body)))
        return PulledImage(ref, digest, digest, (f"{config.get('os', '?')}/{config.get('architecture', '?')}",))
    index = json.loads(tree.body)
    if len(tree.chosen) == len(index.get("manifests", [])):
        stored = layout.put_blob(tree.body, tree.media_type)
    else:
        # Keep the index's other fields (annotations, subject); list only the platforms kept.
        filtered = {**index, "manifests": tree.chosen}
        stored = layout.put_blob(json.dumps(filtered, indent=2).encode(), tree.media_type or INDEX)
    layout.tag(ref, stored)
    return PulledImage(ref, digest, stored.digest, tuple(platform_of(entry) for entry in tree.chosen))


class OllamaStore:
    """Ollama's own model store (`blobs/sha256-<hex>`, `manifests/<host>/<namespace>/<model>/<tag>`).

    The inference chart copies this directory into the engine's `OLLAMA_MODELS` as is, so Ollama
    finds the model on start without pulling anything.
    """

    def __init__(self, root: Path) -> None:
        self.root = root

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / f"sha256-{sha256_hex(digest)}"

    def manifest_path(self, host: str, repository: str, tag: str) -> Path:
        return self.root / "manifests" / host / repository / tag


def pull_ollama_model(
    registry: Registry,
    host: str,
    repository: str,
    tag: str,
    digest: str,
    store: OllamaStore,
    *,
    progress: Progress | None = None,
    on_blob: Counter | None = None,
) -> tuple[Path, list[Descriptor]]:
    """Pull one model into `store`; returns its manifest's path and the blobs it names (config first)."""
    ref = f"{host}/{repository}:{tag}"
    _, body = fetch_manifest(registry, repository, digest, ref)
    blobs = _blobs_of(json.loads(body))
    for blob in blobs:
        pull_blob(registry, repository, blob, store, progress, on_blob)
    path = store.manifest_path(host, repository, tag)
    write_bytes_atomic(path, body)
    return path, blobs

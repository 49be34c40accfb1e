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
from greenzone.bundle.download import ChecksumMismatch, fetch
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

Progress = Callable[[int], None]
Counter = Callable[[bool], None]  # told, per blob, whether it was already complete (True) or downloaded


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
    )
    if fetched.size != blob.size:
        raise ChecksumMismatch(
            f"{repository}: blob {blob.digest} has {fetched.size} bytes, its manifest says {blob.size}",
            hint="the manifest and its blob disagree; check the upstream image",
        )
    if on_blob:
        on_blob(fetched.reused)
    return not fetched.reused


def _blobs_of(manifest: dict[str, Any]) -> list[Descriptor]:
    return [Descriptor.from_json(manifest["config"]), *(Descriptor.from_json(layer) for layer in manifest["layers"])]


def _pull_manifest_tree(
    registry: Registry,
    repository: str,
    digest: str,
    ref: str,
    store: Layout,
    progress: Progress | None,
    on_blob: Counter | None,
) -> tuple[str, bytes]:
    media_type, body = fetch_manifest(registry, repository, digest, ref)
    if media_type not in (MANIFEST, DOCKER_MANIFEST):
        raise InputError(f"{ref}: {digest} is a {media_type}, not an image manifest", hint="pin an image manifest")
    for blob in _blobs_of(json.loads(body)):
        pull_blob(registry, repository, blob, store, progress, on_blob)
    store.put_blob(body, media_type)
    return media_type, body


def pull_image(
    registry: Registry,
    repository: str,
    ref: str,
    digest: str,
    layout: Layout,
    platforms: list[str],
    *,
    progress: Progress | None = None,
    on_blob: Counter | None = None,
) -> PulledImage:
    media_type, body = fetch_manifest(registry, repository, digest, ref)
    if media_type not in INDEX_TYPES:
        manifest_type, manifest = _pull_manifest_tree(registry, repository, digest, ref, layout, progress, on_blob)
        config = json.loads(layout.read_blob(Descriptor.from_json(json.loads(manifest)["config"]).digest))
        platform = f"{config.get('os', '?')}/{config.get('architecture', '?')}"
        stored = Descriptor(manifest_type, digest, len(manifest))
        layout.tag(ref, stored)
        return PulledImage(ref, digest, digest, (platform,))
    index = json.loads(body)
    chosen = select_platforms(index, platforms, ref)
    for entry in chosen:
        _pull_manifest_tree(registry, repository, entry["digest"], ref, layout, progress, on_blob)
    if len(chosen) == len(index.get("manifests", [])):
        stored = layout.put_blob(body, media_type)
    else:
        # Keep the index's other fields (annotations, subject); list only the platforms kept.
        filtered = {**index, "manifests": chosen}
        stored = layout.put_blob(json.dumps(filtered, indent=2).encode(), media_type if media_type else INDEX)
    layout.tag(ref, stored)
    return PulledImage(ref, digest, stored.digest, tuple(platform_of(entry) for entry in chosen))


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

"""Builds a small but real "upstream" for `bundle build` tests: files, images, an Ollama model.

Images are written as an OCI layout (three share a base layer; one is a two-platform index) and
pushed to a real `docker-registry` with our client; the Ollama model is pushed the way
registry.ollama.ai serves models (a Docker v2 manifest whose layers carry Ollama's media types).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from greenzone.bundle.oci import DOCKER_MANIFEST, INDEX, Descriptor, Layout, add_image, digest_of
from greenzone.bundle.registry import Registry, push_layout
from greenzone.refs import split_ref

BASE = os.urandom(400_000)  # the base layer three images share
K3S = os.urandom(2_500_000)  # big enough for a 1 MiB split to give three parts
INSTALL_SH = b"#!/bin/sh\necho install k3s\n"
WEIGHTS = os.urandom(1_200_000)
HF_FILES = {
    "config.json": b'{"architectures": ["Gemma3ForConditionalGeneration"]}',
    "tokenizer.json": b'{"version": "1.0"}',
    "tokenizer_config.json": b'{"chat_template": "{{ messages }}"}',
    "preprocessor_config.json": b'{"image_processor_type": "Gemma3ImageProcessor"}',
    "model.safetensors": os.urandom(300_000),
}
SINGLE = ("ollama", "open-webui", "dcgm-exporter")


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Upstream:
    host: str  # 127.0.0.1:PORT of the registry
    digests: dict[str, str]  # ref -> manifest/index digest
    model_digest: str
    amd64_manifest: str  # digest of the multi image's amd64 manifest

    def ref(self, name: str, tag: str = "1.0") -> str:
        return f"{self.host}/greenzone-test/{name}:{tag}"


def publish(registry_url: str, work: Path) -> Upstream:
    host = registry_url.removeprefix("http://")
    layout = Layout(work / "upstream-layout")
    layout.init()
    digests = {}
    for name in SINGLE:
        ref = f"{host}/greenzone-test/{name}:1.0"
        digests[ref] = add_image(layout, ref, [BASE, os.urandom(40_000), name.encode()]).digest
    amd = add_image(layout, "scratch-amd", [BASE, b"amd64 only"], platform="linux/amd64")
    arm = add_image(layout, "scratch-arm", [os.urandom(30_000)], platform="linux/arm64")
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [
            {**amd.to_json(), "platform": {"os": "linux", "architecture": "amd64"}},
            {**arm.to_json(), "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"}},
        ],
    }
    multi = f"{host}/greenzone-test/multi:2.0"
    stored = layout.put_blob(json.dumps(index).encode(), INDEX)
    layout.tag(multi, stored)
    digests[multi] = stored.digest
    layout.retain(set(digests))
    registry = Registry(registry_url)
    push_layout(layout, registry, lambda ref: split_ref(ref)[1:])

    blobs = work / "ollama-blobs"
    blobs.mkdir()
    config = json.dumps({"model_format": "gguf", "model_family": "gemma3"}).encode()
    parts = [
        ("application/vnd.docker.container.image.v1+json", config),
        ("application/vnd.ollama.image.model", WEIGHTS),
        ("application/vnd.ollama.image.template", b"{{ .Prompt }}"),
    ]
    descriptors = []
    for media_type, data in parts:
        descriptor = Descriptor(media_type, digest_of(data), len(data))
        path = blobs / descriptor.digest.replace(":", "-")
        path.write_bytes(data)
        registry.push_blob("library/gemma3", descriptor, path)
        descriptors.append(descriptor)
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": descriptors[0].to_json(),
            "layers": [d.to_json() for d in descriptors[1:]],
        }
    ).encode()
    registry.put_manifest("library/gemma3", "4b", DOCKER_MANIFEST, manifest)
    return Upstream(host, digests, digest_of(manifest), amd.digest)


def lock_text(files_url: str, upstream: Upstream, *, chart_path: str | None = "charts/demo") -> str:
    images = "\n".join(f"  - {{ref: {ref}, digest: '{digest}'}}" for ref, digest in upstream.digests.items())
    hf = "\n".join(
        f"      - {{url: {files_url}/hf/{name}, sha256: {sha(data)}, path: {name}}}" for name, data in HF_FILES.items()
    )
    chart = f"charts:\n  - name: demo\n    version: 0.1.0\n    path: {chart_path}\n" if chart_path is not None else ""
    return f"""\
# a test lock: everything served from 127.0.0.1
lock_version: 1
platforms: [linux/amd64]
files:
  - name: k3s
    version: v1.34.1+k3s1
    kind: binary
    url: {files_url}/k3s
    sha256: {sha(K3S)}  # pinned
    dest: bin/k3s
    mode: "0755"
  - name: k3s-install
    version: v1.34.1+k3s1
    kind: script
    url: {files_url}/install.sh
    sha256: {sha(INSTALL_SH)}
    dest: k3s/install.sh
{chart}images:
{images}
models:
  - name: gemma3:4b
    engine: ollama
    source: {upstream.host}/library/gemma3:4b
    digest: '{upstream.model_digest}'
    vram_bytes: 6442450944
  - name: google/gemma-3-4b-it
    engine: vllm
    architecture: Gemma3ForConditionalGeneration
    vram_bytes: 12884901888
    files:
{hf}
"""


def file_contents() -> dict[str, bytes]:
    return {"/k3s": K3S, "/install.sh": INSTALL_SH, **{f"/hf/{name}": data for name, data in HF_FILES.items()}}

"""What the health tests share: an appliance's answers, the images the install pushed, a bundle
listing them, a kubeconfig pointing at a stand-in API, and the envelope's checks by name."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.registry import running_registry

from greenzone.bundle.oci import Layout, add_image
from greenzone.bundle.registry import Registry, push_layout
from greenzone.refs import mirror_repository

ANSWERS = """\
version: 1
appliance: {name: health-test}
nodes: [{name: gz-node-1, address: local}]
network: {hostname: ai.health.test}
bundle: {path: /nonexistent/bundle, public_key: /nonexistent/bundle.pub}
gpu: {expected_count: 1}
inference: {engine: ollama, models: ["gemma3:4b", "llama3.2:3b"]}
departments: [{name: legal, gpu_quota: 1}]
green_zone: {egress: deny}
"""
PUSHED = ("docker.io/ollama/ollama:0.6.5", "docker.io/goharbor/harbor-core:v2.13.1")


def answers_file(tmp_path: Path) -> Path:
    path = tmp_path / "answers.yaml"
    path.write_text(ANSWERS)
    return path


def checks(envelope: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {check["name"]: check for check in envelope["checks"]}


def registry_with_images(tmp_path: Path) -> Iterator[str]:
    """A real registry holding the two PUSHED images at their mirror paths, as the install leaves it."""
    layout = Layout(tmp_path / "images")
    layout.init()
    for ref in PUSHED:
        add_image(layout, ref, [os.urandom(20_000), ref.encode()])
    with running_registry(tmp_path / "registry") as url:
        push_layout(layout, Registry(url), mirror_repository)
        yield url


def bundle_listing(tmp_path: Path, refs: tuple[str, ...]) -> Path:
    """A bundle directory whose manifest lists `refs` with the digests the registry holds (or a made-up one)."""
    layout = Layout(tmp_path / "images")
    digests = {image.ref: image.digest for image in layout.index()}
    bundle = tmp_path / "bundle"
    bundle.mkdir(exist_ok=True)
    images = [{"ref": ref, "digest": digests.get(ref, "sha256:" + "e" * 64)} for ref in refs]
    (bundle / "bundle.yaml").write_text(json.dumps({"format_version": 1, "product_version": "1.0.0", "images": images}))
    return bundle


def write_kubeconfig(state: Path, server: str) -> None:
    state.mkdir(parents=True, exist_ok=True)
    (state / "kubeconfig").write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gz\n"
        f"clusters: [{{name: gz, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: gz, user: {token: not-a-real-token}}]\n"
        "contexts: [{name: gz, context: {cluster: gz, user: gz}}]\n"
    )
    (state / "kubeconfig").chmod(0o600)

"""Registry auth as the field uses it, against the real `docker-registry`:

- bearer tokens from a token server (Docker Hub, Harbor, ECR's flow); the registry verifies the
  JWTs itself with the signer's certificate as root;
- basic auth from an htpasswd file over TLS with a site CA (a Harbor on site).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenzone.bundle.oci import Layout, add_image
from greenzone.bundle.pull import ImageSource, pull_images
from greenzone.bundle.registry import Credentials, Registry, RegistryError, push_layout
from greenzone.refs import split_ref
from tests.support import registry_auth as auth
from tests.support.cli import Run
from tests.support.registry import running_registry

BASE = os.urandom(200_000)


def _layout(root: Path, host: str) -> Layout:
    layout = Layout(root)
    layout.init()
    for name in ("ollama", "open-webui", "dcgm-exporter"):
        add_image(layout, f"{host}/greenzone-test/{name}:1.0", [BASE, os.urandom(20_000)])
    return layout


@pytest.fixture
def token_registry(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    with auth.token_server(tmp_path / "token") as (realm, root, granted):
        config = auth.token_auth_config(realm, root)
        with running_registry(tmp_path / "registry", auth=config) as url:
            yield url, granted


def test_token_auth_push_and_build_pull(token_registry: tuple[str, list[str]], tmp_path: Path, run_cli: Run) -> None:
    url, granted = token_registry
    host = url.removeprefix("http://")
    layout = _layout(tmp_path / "src", host)
    registry = Registry(url, credentials=Credentials(auth.USER, auth.PASSWORD))
    stats = push_layout(layout, registry, lambda ref: split_ref(ref)[1:])
    assert len(stats.images) == 3
    assert any("repository:greenzone-test/ollama:" in s and "push" in s for s in granted), granted

    anonymous = Registry(url)
    with pytest.raises(RegistryError, match=r"refused a token .* \(HTTP 401\)"):
        anonymous.has_blob("greenzone-test/ollama", "sha256:" + "0" * 64)

    # `bundle build` pulls with the vendor's docker-style credentials file.
    refs = [image.ref for image in layout.index()]
    digests = {image.ref: image.digest for image in layout.index()}
    lock = tmp_path / "repo" / "airgap" / "lock.yaml"
    lock.parent.mkdir(parents=True)
    lock.write_text(
        "lock_version: 1\nimages:\n" + "".join(f"  - {{ref: {ref}, digest: '{digests[ref]}'}}\n" for ref in refs)
    )
    config = auth.docker_config(tmp_path, host)
    out = tmp_path / "bundle"
    built = run_cli("bundle", "build", "--lock", str(lock), "--out", str(out), "--auth", str(config))
    assert built.returncode == 0, built.stderr
    assert {image.ref: image.digest for image in Layout(out / "images").index()} == digests

    wrong = auth.docker_config(tmp_path, host, password="not-the-password")
    refused = run_cli("bundle", "build", "--lock", str(lock), "--out", str(tmp_path / "b2"), "--auth", str(wrong))
    assert refused.returncode == 4 and "refused a token" in refused.stderr
    logs = "".join(p.read_text() for p in (tmp_path / "state").rglob("*.log"))
    for secret in (auth.PASSWORD, "not-the-password"):
        assert secret not in built.stdout + built.stderr + refused.stdout + refused.stderr + logs


def test_basic_auth_over_tls_with_a_site_ca(tmp_path: Path) -> None:
    ca, cert, key = auth.site_tls(tmp_path / "tls")
    config = auth.htpasswd_auth_config(auth.htpasswd(tmp_path))
    with running_registry(tmp_path / "registry", auth=config, tls=(cert, key)) as url:
        host = url.removeprefix("https://")
        layout = _layout(tmp_path / "src", host)
        registry = Registry(url, credentials=Credentials(auth.USER, auth.PASSWORD), ca_file=ca)
        push_layout(layout, registry, lambda ref: split_ref(ref)[1:])

        # Read back through the same client into a fresh layout: same digests, every byte re-hashed.
        copy = Layout(tmp_path / "copy")
        copy.init()
        images = [image for image in layout.index() if image.ref]
        sources = [
            ImageSource(registry, split_ref(image.ref)[1], image.ref, image.digest, ["linux/amd64"])
            for image in images
            if image.ref
        ]
        pulled = pull_images(sources, copy)
        assert [item.digest for item in pulled] == [image.digest for image in images]
        assert copy.sizes() == layout.sizes()

        without_ca = Registry(url, credentials=Credentials(auth.USER, auth.PASSWORD))
        with pytest.raises(RegistryError, match="CERTIFICATE_VERIFY_FAILED") as error:
            without_ca.has_blob("greenzone-test/ollama", images[0].digest)
        assert "CA file" in error.value.hint

        wrong = Registry(url, credentials=Credentials(auth.USER, "wrong-password"), ca_file=ca)
        with pytest.raises(RegistryError, match=r"refused user .vendor. for HEAD"):
            wrong.has_blob("greenzone-test/ollama", images[0].digest)

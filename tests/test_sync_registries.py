"""`greenzone sync` and `greenzone parity` between two real `docker-registry` instances on loopback:
one stands for the appliance's Harbor (filled the way the install fills it), one for the cloud
registry (ECR, Artifact Registry). Charts go through the real `helm push`; the bundle is a signed
test bundle whose charts all render with the real helm (tests/sync_fixture.py).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from greenzone.bundle.manifest import read_manifest
from greenzone.bundle.oci import Layout, add_image
from greenzone.bundle.registry import Registry, push_layout
from greenzone.deploy.actions import push_images
from greenzone.refs import mirror_repository
from greenzone.sync.mirror import CloudRegistry
from greenzone.sync.push import CHART_LAYER, chart_layer
from tests.support.charts import our_chart
from tests.support.cli import Run
from tests.support.health_standins import Engine, serve
from tests.support.registry import running_registry
from tests.support.sync import OVERLAY, make_sync_bundle, write_target

pytestmark = pytest.mark.slow  # real docker-registry instances


@dataclass(frozen=True)
class Setup:
    root: Path
    answers: Path
    bundle: Path
    harbor: str
    cloud: str

    @property
    def cloud_registry(self) -> CloudRegistry:
        return CloudRegistry.parse(f"{self.cloud.removeprefix('http://')}/greenzone")


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    answers = make_sync_bundle(tmp_path / "bundle")
    with running_registry(tmp_path / "harbor") as harbor, running_registry(tmp_path / "cloud") as cloud:
        yield Setup(tmp_path, answers, tmp_path / "bundle", harbor, cloud)


def _target(setup: Setup) -> Path:
    return write_target(setup.root / "target.yaml", f"{setup.cloud.removeprefix('http://')}/greenzone", overlay=OVERLAY)


def _sync(run_cli: Run, setup: Setup, *extra: str) -> dict:  # type: ignore[type-arg]
    result = run_cli(
        "sync", "--target", str(_target(setup)), "--answers", str(setup.answers),
        "--render-only", str(setup.root / "gitops"), "--json", *extra,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    envelope: dict = json.loads(result.stdout)  # type: ignore[type-arg]
    return envelope


def _tag_digest(registry: Registry, repository: str, tag: str) -> str:
    digest = registry.manifest_digest(repository, tag)
    assert digest, f"{registry.base} has no {repository}:{tag}"
    return digest


def test_sync_mirrors_every_chart_and_image_with_the_bundles_digests(run_cli: Run, setup: Setup) -> None:
    push_images(setup.bundle, setup.harbor, ca_file=None, credentials_file=None, harbor=False)
    envelope = _sync(run_cli, setup)
    assert envelope["status"] == "pass"
    manifest = read_manifest(setup.bundle)
    harbor, cloud = Registry(setup.harbor), Registry(setup.cloud)
    target = setup.cloud_registry
    assert len(manifest.images) >= 5
    for image in manifest.images:
        on_site = _tag_digest(harbor, *mirror_repository(image.ref))
        in_cloud = _tag_digest(cloud, *target.repository(image.ref))
        assert on_site == in_cloud == image.digest, image.ref
    hashes = {item.path: item.sha256 for item in manifest.files}
    charts = [c for c in manifest.components if c.kind == "chart"]
    assert len(charts) == 5
    for chart in charts:
        layer = chart_layer(cloud, target.chart_repository(chart.name), chart.version)
        assert layer == f"sha256:{hashes[chart.paths[0]]}", chart.name  # same archive, same version tag
    _, body = cloud.get_manifest(target.chart_repository("greenzone-inference"), our_chart("greenzone-inference")[0])
    assert json.loads(body)["layers"][0]["mediaType"] == CHART_LAYER
    # The GitOps output pins every image to the cloud registry by digest.
    index = (setup.root / "gitops" / "releases.yaml").read_text()
    rendered = (setup.root / "gitops" / "greenzone-inference" / "manifests.yaml").read_text()
    assert f"image: {target.host}/greenzone/docker.io/ollama/ollama:" in rendered and "@sha256:" in rendered
    assert "hostPath" not in rendered  # the overlay moved the model store and the bundle's models to PVCs
    assert "chart_oci: oci://" in index


def test_a_second_sync_uploads_nothing_and_changes_no_file(run_cli: Run, setup: Setup) -> None:
    first = _sync(run_cli, setup)
    assert first["data"]["images"]["uploaded"] > 0 and first["data"]["charts"]["pushed"]
    second = _sync(run_cli, setup)
    assert second["data"]["images"]["uploaded"] == 0
    assert second["data"]["images"]["mounted"] == 0
    assert second["data"]["charts"]["pushed"] == []
    assert len(second["data"]["charts"]["present"]) == 5
    assert second["data"]["written"] == []
    assert "nothing changed" in next(c["detail"] for c in second["checks"] if c["name"] == "rendered manifests")


def test_an_interrupted_sync_resumes_with_what_is_missing(run_cli: Run, setup: Setup) -> None:
    """Half the images reached the cloud before the link dropped; the next sync uploads only the rest."""
    partial = setup.root / "partial"
    shutil.copytree(setup.bundle / "images", partial)
    layout = Layout(partial)
    refs = sorted(image.ref for image in layout.index() if image.ref)
    layout.retain(set(refs[: len(refs) // 2]))
    early = push_layout(layout, Registry(setup.cloud), setup.cloud_registry.repository)
    envelope = _sync(run_cli, setup)
    images = envelope["data"]["images"]
    assert images["skipped"] >= early.uploaded > 0
    assert images["uploaded"] + images["mounted"] > 0
    assert len(images["images"]) == len(refs)


def test_parity_passes_after_sync_and_catches_a_tampered_cloud_image(run_cli: Run, setup: Setup) -> None:
    _sync(run_cli, setup)
    parity = ("parity", "--target", str(_target(setup)), "--answers", str(setup.answers))
    gitops = ("--cloud-rendered", str(setup.root / "gitops"))
    report = setup.root / "parity.md"
    # The two engines are OpenAI-compatible stand-ins (tests/support/health_standins.py) answering alike.
    with serve(Engine({"gemma3:4b"}).route) as onprem_api, serve(Engine({"gemma3:4b"}).route) as cloud_api:
        endpoints = ("--onprem-endpoint", onprem_api, "--cloud-endpoint", cloud_api)
        clean = run_cli(*parity, *gitops, *endpoints, "--json", "--report", str(report))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    checks = json.loads(clean.stdout)["checks"]
    assert {c["group"] for c in checks} == {"charts", "images", "values", "cloud registry", "probes"}
    assert all(c["status"] == "pass" for c in checks), [c for c in checks if c["status"] != "pass"]
    assert [c["name"] for c in checks if c["group"] == "probes"] == [
        "on-prem: gemma3:4b answers",
        "cloud: gemma3:4b answers",
        "gemma3:4b: same answers at temperature 0",
    ]
    markdown = report.read_text()
    assert "**PASS**" in markdown and "| images in" in markdown and "## Probe latency" in markdown

    # Someone pushes another image over the cloud mirror's tag of the engine.
    engine = next(image for image in read_manifest(setup.bundle).images if "ollama/ollama" in image.ref)
    forged = Layout(setup.root / "forged")
    forged.init()
    add_image(forged, engine.ref, [b"not the bundle's layer"])
    push_layout(forged, Registry(setup.cloud), setup.cloud_registry.repository)

    tampered = run_cli(*parity, *gitops, "--json")
    assert tampered.returncode == 2, tampered.stdout + tampered.stderr
    failed = [c for c in json.loads(tampered.stdout)["checks"] if c["status"] == "fail"]
    assert [c["name"] for c in failed] == [f"images in {target_name(setup)}"]
    assert f"{engine.ref}: tag points to sha256:" in failed[0]["detail"]
    assert f"the bundle has {engine.digest[:19]}" in failed[0]["detail"]
    table = run_cli(*parity, *gitops)
    assert table.returncode == 2 and "parity: FAIL (16 pass, 1 fail, 1 skip)" in table.stdout  # probes not asked
    assert "Traceback" not in table.stderr


def target_name(setup: Setup) -> str:
    return f"{setup.cloud.removeprefix('http://')}/greenzone"


def test_sync_to_a_tls_registry_with_credentials_keeps_the_password_out_of_every_output(
    run_cli: Run, tmp_path: Path
) -> None:
    """The cloud registry as ECR or a cloud Harbor serves it: https with a private CA and a user and
    password (htpasswd here); helm push reads the same docker-style credentials file."""
    from tests.support import registry_auth as auth

    answers = make_sync_bundle(tmp_path / "bundle")
    ca, cert, key = auth.site_tls(tmp_path / "tls")
    config = auth.htpasswd_auth_config(auth.htpasswd(tmp_path))
    with running_registry(tmp_path / "cloud", auth=config, tls=(cert, key)) as url:
        host = url.removeprefix("https://")
        credentials = auth.docker_config(tmp_path, host)
        target = write_target(
            tmp_path / "target.yaml",
            f"{host}/greenzone",
            overlay=OVERLAY,
            credentials_file=str(credentials),
            ca_file=str(ca),
        )
        args = (
            "sync",
            "--target",
            str(target),
            "--answers",
            str(answers),
            "--render-only",
            str(tmp_path / "out"),
            "--json",
        )
        result = run_cli(*args)
        assert result.returncode == 0, result.stdout + result.stderr
        envelope = json.loads(result.stdout)
        assert len(envelope["data"]["charts"]["pushed"]) == 5 and envelope["data"]["images"]["uploaded"] > 0
        again = json.loads(run_cli(*args).stdout)
        assert again["data"]["images"]["uploaded"] == 0 and again["data"]["charts"]["pushed"] == []
    logs = "".join(path.read_text() for path in (tmp_path / "state").rglob("*.log"))
    assert logs and auth.PASSWORD not in logs
    assert auth.PASSWORD not in result.stdout + result.stderr

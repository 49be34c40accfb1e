"""`greenzone bundle build` end to end against a real upstream on 127.0.0.1.

The upstream is a real HTTP server (files, Range) and a real `docker-registry` holding test images
(three sharing a base layer, one two-platform index) and an Ollama-format model; our charts are
made with the real `helm create` and packaged by the build with the real `helm`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from greenzone.bundle.oci import DOCKER_MANIFEST, INDEX_TYPES, MANIFEST, Layout
from tests.support import bundle_upstream as up
from tests.support.charts import helm_path
from tests.support.cli import Run
from tests.support.paths import REPO
from tests.support.registry import running_registry
from tests.support.upstream import Files, serving

pytestmark = pytest.mark.slow  # real downloads, pulls, helm and pip wheel builds


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Files, up.Upstream, Path]]:
    work = tmp_path_factory.mktemp("upstream")
    with running_registry(work / "registry") as url, serving(Files(content=up.file_contents())) as files:
        yield files, up.publish(url, work), work / "registry"


@pytest.fixture
def repo(tmp_path: Path, world: tuple[Files, up.Upstream, Path]) -> Path:
    """A checkout with a lock in airgap/ and one chart of ours made by `helm create`."""
    files, upstream, _ = world
    root = tmp_path / "repo"
    (root / "airgap").mkdir(parents=True)
    (root / "charts").mkdir()
    subprocess.run([str(helm_path()), "create", str(root / "charts" / "demo")], check=True, capture_output=True)
    (root / "airgap" / "bundle.lock.yaml").write_text(up.lock_text(files.url, upstream))
    return root


def _build(run_cli: Run, repo: Path, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return run_cli("bundle", "build", "--lock", str(repo / "airgap" / "bundle.lock.yaml"), "--out", str(out), *extra)


def test_build_pulls_everything_once_verifies_and_inspects(
    run_cli: Run, repo: Path, tmp_path: Path, world: tuple[Files, up.Upstream, Path]
) -> None:
    _, upstream, _ = world
    out = tmp_path / "bundle"
    key = tmp_path / "vendor.key"
    assert run_cli("bundle", "keygen", "--out", str(key)).returncode == 0
    built = _build(run_cli, repo, out, "--sign-key", str(key))
    assert built.returncode == 0, built.stderr
    assert "4 images, 2 models" in built.stdout

    assert (out / "bin" / "k3s").read_bytes() == up.K3S and (out / "bin" / "k3s").stat().st_mode & 0o777 == 0o755
    assert (out / "charts" / "demo-0.1.0.tgz").is_file()
    manifest = yaml.safe_load((out / "bundle.yaml").read_text())
    listed = {item["path"] for item in manifest["files"]}
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} - {
        "bundle.yaml",
        "bundle.yaml.sig",
    }
    assert listed == on_disk  # every file is in the manifest and nothing else is on disk (no .part, no marker)

    layout = Layout(out / "images")
    assert {image.ref for image in layout.index()} == set(upstream.digests)
    # Each distinct blob fetched once, however many images share it (the base is in four).
    blobs = {
        blob.digest
        for image in layout.index()
        for blob in layout.walk(image)
        if blob.media_type not in (*INDEX_TYPES, MANIFEST, DOCKER_MANIFEST)
    }
    files = 2 + 3 + len(up.HF_FILES)  # k3s and its script, the Ollama model's blobs, the vLLM model's files
    assert f"downloads: {len(blobs) + files} fetched, 0 already" in built.stdout, built.stdout
    separate, stored = layout.sizes()
    assert separate - stored >= 3 * len(up.BASE)  # the base layer (in 4 images) is stored once

    # The two-platform index keeps linux/amd64 only: a new index, with the upstream digest recorded.
    multi = upstream.ref("multi", "2.0")
    images = {image["ref"]: image for image in manifest["images"]}
    assert images[multi]["source_digest"] == upstream.digests[multi]
    assert images[multi]["digest"] != upstream.digests[multi] and images[multi]["platforms"] == ["linux/amd64"]
    stored_index = json.loads(layout.read_blob(images[multi]["digest"]))
    assert [m["digest"] for m in stored_index["manifests"]] == [upstream.amd64_manifest]
    single = upstream.ref("ollama")
    assert images[single]["digest"] == upstream.digests[single] and images[single]["source_digest"] is None

    # Ollama's own store layout, so the engine finds the model without pulling.
    host = upstream.host
    ollama_manifest = out / "models" / "ollama" / "manifests" / host / "library" / "gemma3" / "4b"
    assert ollama_manifest.is_file()
    weights = out / "models" / "ollama" / "blobs" / f"sha256-{up.sha(up.WEIGHTS)}"
    assert weights.read_bytes() == up.WEIGHTS
    assert (out / "models" / "hf" / "google" / "gemma-3-4b-it" / "model.safetensors").is_file()
    assert {m["name"]: m["size_bytes"] for m in manifest["models"]}["google/gemma-3-4b-it"] == sum(
        len(data) for data in up.HF_FILES.values()
    )
    # What the engine pods' seeders check each copy against: every model file, its sha256, the
    # Ollama manifest after the blobs it names (tests/test_charts_seed.py runs the seeder).
    sums = [line.split("  ", 1) for line in (out / "models" / "SHA256SUMS").read_text().splitlines()]
    models_on_disk = {p.relative_to(out / "models").as_posix() for p in (out / "models").rglob("*") if p.is_file()}
    assert {path for _, path in sums} == models_on_disk - {"SHA256SUMS"}
    for digest, path in sums:
        assert hashlib.sha256((out / "models" / path).read_bytes()).hexdigest() == digest, path
    assert sums[-1][1].startswith("ollama/manifests/")

    verified = run_cli("bundle", "verify", str(out), "--key", str(key) + ".pub", "--json")
    assert verified.returncode == 0, verified.stdout
    inspect = run_cli("bundle", "inspect", str(out))
    assert multi in inspect.stdout and "shared layers save" in inspect.stdout and "gemma3:4b" in inspect.stdout


def test_rerun_downloads_nothing_and_resumes_a_partial_file(
    run_cli: Run, repo: Path, tmp_path: Path, world: tuple[Files, up.Upstream, Path]
) -> None:
    files, _, _ = world
    out = tmp_path / "bundle"
    assert _build(run_cli, repo, out).returncode == 0
    files.requests.clear()
    again = _build(run_cli, repo, out)
    assert again.returncode == 0 and "0 fetched" in again.stdout
    assert files.requests == []  # not one file byte asked again

    # An interrupted build: k3s half downloaded (its .part kept), one layer blob not yet pulled, the
    # build's marker still there and no bundle.yaml.
    (out / ".greenzone-build").touch()
    k3s = out / "bin" / "k3s"
    (out / "bin" / "k3s.part").write_bytes(up.K3S[:1_000_000])
    k3s.unlink()
    layer = Layout(out / "images").blob_path("sha256:" + up.sha(up.BASE))
    layer.unlink()
    (out / "bundle.yaml").unlink()
    resumed = _build(run_cli, repo, out)
    assert resumed.returncode == 0, resumed.stderr
    assert files.requests == [("/k3s", "bytes=1000000-")]  # only the rest of k3s, with Range
    assert k3s.read_bytes() == up.K3S and layer.read_bytes() == up.BASE
    assert not (out / "bin" / "k3s.part").exists()


def test_a_blob_damaged_on_disk_between_runs_is_fetched_again(
    run_cli: Run, repo: Path, tmp_path: Path, world: tuple[Files, up.Upstream, Path]
) -> None:
    """A re-run takes a layout blob of the right size as it is (it reached its name only after its
    check) and sealing hashes it once: a byte changed on disk is found there, never sealed."""
    out = tmp_path / "bundle"
    assert _build(run_cli, repo, out).returncode == 0
    blob = Layout(out / "images").blob_path("sha256:" + up.sha(up.BASE))
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 1
    blob.write_bytes(bytes(data))
    refused = _build(run_cli, repo, out)
    assert refused.returncode == 3, refused.stdout
    assert f"{blob} holds bytes with sha256" in refused.stderr and "run the build again" in refused.stderr
    assert not (out / "bundle.yaml").exists() and not blob.exists()
    again = _build(run_cli, repo, out)
    assert again.returncode == 0, again.stderr
    assert "downloads: 1 fetched" in again.stdout
    assert blob.read_bytes() == up.BASE


def test_a_file_that_does_not_match_its_pin_is_refused_and_nothing_is_sealed(
    run_cli: Run, repo: Path, tmp_path: Path
) -> None:
    lock = repo / "airgap" / "bundle.lock.yaml"
    lock.write_text(lock.read_text().replace(up.sha(up.INSTALL_SH), "f" * 64))
    out = tmp_path / "bundle"
    result = _build(run_cli, repo, out)
    assert result.returncode == 3
    assert "install.sh delivered sha256" in result.stderr and "the lock pins ffff" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (out / "k3s" / "install.sh").exists() and not (out / "bundle.yaml").exists()


def test_a_tampered_upstream_blob_is_refused(
    run_cli: Run, repo: Path, tmp_path: Path, world: tuple[Files, up.Upstream, Path]
) -> None:
    _, _, storage = world
    digest = up.sha(up.WEIGHTS)
    data = storage / "storage" / "docker" / "registry" / "v2" / "blobs" / "sha256" / digest[:2] / digest / "data"
    original = data.read_bytes()
    data.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        result = _build(run_cli, repo, tmp_path / "bundle")
    finally:
        data.write_bytes(original)
    assert result.returncode == 3, result.stderr
    assert f"blobs/sha256:{digest}" in result.stderr and "the lock pins" in result.stderr
    assert not (tmp_path / "bundle" / "models" / "ollama" / "blobs" / f"sha256-{digest}").exists()


def test_unresolved_pins_stop_the_build_and_lock_update_fills_them(
    run_cli: Run, repo: Path, tmp_path: Path, world: tuple[Files, up.Upstream, Path]
) -> None:
    _, upstream, _ = world
    lock = repo / "airgap" / "bundle.lock.yaml"
    pinned = lock.read_text()
    multi = upstream.digests[upstream.ref("multi", "2.0")]
    lock.write_text(pinned.replace(up.sha(up.K3S), "unresolved").replace(f"'{multi}'", "unresolved"))

    refused = _build(run_cli, repo, tmp_path / "bundle")
    assert refused.returncode == 3 and "2 unresolved pins" in refused.stderr
    assert "bundle.lock.yaml:9:13: error: files[0].sha256" in refused.stderr
    assert not (tmp_path / "bundle").exists()

    updated = run_cli("bundle", "lock", str(lock), "--update")
    assert updated.returncode == 0, updated.stderr
    assert lock.read_text() == pinned.replace(f"'{multi}'", multi)  # comments and layout kept, only pins filled
    assert "nothing to resolve" in run_cli("bundle", "lock", str(lock), "--update").stdout
    assert run_cli("bundle", "lock", str(lock)).returncode == 0


def test_build_keeps_exactly_what_the_lock_names(
    run_cli: Run, repo: Path, tmp_path: Path, world: tuple[Files, up.Upstream, Path]
) -> None:
    _, upstream, _ = world
    out = tmp_path / "bundle"
    assert _build(run_cli, repo, out).returncode == 0
    lock = repo / "airgap" / "bundle.lock.yaml"
    dropped = upstream.ref("dcgm-exporter")
    lock.write_text("\n".join(line for line in lock.read_text().splitlines() if dropped not in line) + "\n")
    again = _build(run_cli, repo, out)
    assert again.returncode == 0 and "removed 4 files the lock no longer names" in again.stdout
    assert dropped not in {image.ref for image in Layout(out / "images").index()}
    key = tmp_path / "k"
    run_cli("bundle", "keygen", "--out", str(key))
    run_cli("bundle", "sign", str(out), "--key", str(key))
    assert run_cli("bundle", "verify", str(out), "--key", f"{key}.pub").returncode == 0


def test_build_refuses_a_directory_it_does_not_own(run_cli: Run, repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "home"
    out.mkdir()
    (out / "thesis.tex").write_text("precious")
    result = _build(run_cli, repo, out)
    assert result.returncode == 3 and "is not empty and holds no bundle" in result.stderr
    assert (out / "thesis.tex").read_text() == "precious" and len(list(out.iterdir())) == 1


def test_a_missing_platform_is_named_with_what_the_index_offers(
    run_cli: Run, repo: Path, tmp_path: Path, world: tuple[Files, up.Upstream, Path]
) -> None:
    lock = repo / "airgap" / "bundle.lock.yaml"
    lock.write_text(lock.read_text().replace("platforms: [linux/amd64]", "platforms: [linux/amd64, linux/s390x]"))
    result = _build(run_cli, repo, tmp_path / "bundle")
    assert result.returncode == 3
    assert "has no image for linux/s390x" in result.stderr and "linux/amd64, linux/arm64/v8" in result.stderr


def test_a_chart_whose_version_disagrees_with_the_lock_is_named(run_cli: Run, repo: Path, tmp_path: Path) -> None:
    chart = repo / "charts" / "demo" / "Chart.yaml"
    chart.write_text(chart.read_text().replace("version: 0.1.0", "version: 0.2.0"))
    result = _build(run_cli, repo, tmp_path / "bundle")
    assert result.returncode == 3 and "says version 0.2.0, the lock says 0.1.0" in result.stderr


def test_a_model_whose_config_disagrees_with_the_locks_architecture_is_named(
    run_cli: Run, repo: Path, tmp_path: Path
) -> None:
    """The lock's `architecture` chose the files the rule asked for; a config.json naming another
    architecture means that choice was wrong, so nothing is sealed."""
    lock = repo / "airgap" / "bundle.lock.yaml"
    lock.write_text(
        lock.read_text().replace("architecture: Gemma3ForConditionalGeneration", "architecture: Gemma3ForCausalLM")
    )
    out = tmp_path / "bundle"
    result = _build(run_cli, repo, out)
    assert result.returncode == 3, result.stderr
    assert "names the architecture Gemma3ForConditionalGeneration, the lock says Gemma3ForCausalLM" in result.stderr
    assert "architecture: Gemma3ForConditionalGeneration" in result.stderr
    assert not (out / "bundle.yaml").exists()


def test_pack_split_and_verify_from_parts(run_cli: Run, repo: Path, tmp_path: Path) -> None:
    out = tmp_path / "bundle"
    key = tmp_path / "vendor.key"
    run_cli("bundle", "keygen", "--out", str(key))
    media = tmp_path / "usb"
    built = _build(run_cli, repo, out, "--sign-key", str(key), "--tar", str(media / "gz.tar"), "--split", "1MiB")
    assert built.returncode == 0, built.stderr
    parts = sorted(media.glob("gz.tar.0*"))
    assert len(parts) >= 4 and all(p.stat().st_size == 1024 * 1024 for p in parts[:-1])
    # The checksum list is what sha256sum -c reads: any site machine can check the media.
    check = subprocess.run(["sha256sum", "-c", "gz.tar.sha256"], cwd=media, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout

    site = tmp_path / "site"
    verified = run_cli("bundle", "verify", str(parts[1]), "--key", f"{key}.pub", "--unpack-to", str(site), "--json")
    assert verified.returncode == 0, verified.stdout
    report = json.loads(verified.stdout)
    assert sum(1 for c in report["checks"] if c["name"].startswith("part ")) == len(parts)
    assert (site / "bin" / "k3s").read_bytes() == up.K3S

    # A damaged part is named, and nothing is unpacked.
    damaged = bytearray(parts[2].read_bytes())
    damaged[100] ^= 1
    parts[2].write_bytes(bytes(damaged))
    parts[-1].unlink()
    again = run_cli(
        "bundle", "verify", str(media / "gz.tar.sha256"), "--key", f"{key}.pub", "--unpack-to", str(tmp_path / "s2")
    )
    assert again.returncode == 2
    assert f"part {parts[2].name}" in again.stdout and "altered or truncated" in again.stdout
    assert f"part {parts[-1].name}" in again.stdout and "missing" in again.stdout
    assert not (tmp_path / "s2").exists()


def test_split_size_is_checked(run_cli: Run, tmp_path: Path) -> None:
    no_tar = run_cli("bundle", "build", "--out", str(tmp_path / "o"), "--split", "4000M")
    assert no_tar.returncode == 3 and "add --tar FILE" in no_tar.stderr
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bundle.yaml").write_text("format_version: 1\n")
    for bad, message in (("4 bananas", "is not a size"), ("10K", "smaller than 1 MiB")):
        result = run_cli("bundle", "pack", str(tmp_path / "b"), "--out", str(tmp_path / "x.tar"), "--split", bad)
        assert result.returncode == 3 and message in result.stderr


def test_the_real_lock_is_valid_and_says_what_is_unresolved(run_cli: Run) -> None:
    result = run_cli("bundle", "lock", "airgap/bundle.lock.yaml")
    assert result.returncode == 3 and "pins are unresolved" in result.stderr
    # Each unresolved pin is located at its line, so the vendor knows what `--update` will touch.
    lines = [line for line in result.stderr.splitlines() if ": error: " in line]
    text = (REPO / "airgap" / "bundle.lock.yaml").read_text().splitlines()
    assert lines and all("unresolved" in text[int(line.split(":")[1]) - 1] for line in lines)
    assert len(lines) == sum(line.count("unresolved") for line in text if not line.lstrip().startswith("#"))


def test_the_installer_wheel_is_built_into_the_bundle(run_cli: Run, repo: Path, tmp_path: Path) -> None:
    """A small setuptools project stands in for the installer (same `pip wheel` path, seconds faster)."""
    project = repo / "installer-project"
    (project / "tinyinstaller").mkdir(parents=True)
    (project / "tinyinstaller" / "__init__.py").write_text("")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools"]\nbuild-backend = "setuptools.build_meta"\n'
        '[project]\nname = "tinyinstaller"\nversion = "1.2.3"\n'
    )
    lock = repo / "airgap" / "bundle.lock.yaml"
    lock.write_text(lock.read_text() + "wheels:\n  project: installer-project\n")
    out = tmp_path / "bundle"
    built = _build(run_cli, repo, out, "--pip-arg=--no-build-isolation", "--pip-arg=--no-index")
    assert built.returncode == 0, built.stderr
    wheels = sorted(p.name for p in (out / "wheels").glob("*.whl"))
    assert wheels == ["tinyinstaller-1.2.3-py3-none-any.whl"]
    manifest = yaml.safe_load((out / "bundle.yaml").read_text())
    assert {"name": "wheels", "version": "1", "kind": "wheel", "paths": [f"wheels/{wheels[0]}"]} in manifest[
        "components"
    ]


def test_a_delta_build_carries_only_what_the_base_lacks_and_completes_to_the_whole_bundle(
    run_cli: Run, repo: Path, tmp_path: Path
) -> None:
    """`bundle build --base` of the same lock against the bundle the sites run: every file is the base's
    (none is carried, the tar is tiny), the signed manifest still lists every file, and `bundle
    complete` from the base gives back exactly the whole bundle."""
    key = tmp_path / "vendor.key"
    run_cli("bundle", "keygen", "--out", str(key))
    base = tmp_path / "base"
    assert _build(run_cli, repo, base, "--sign-key", str(key)).returncode == 0
    delta = tmp_path / "delta"
    built = _build(run_cli, repo, delta, "--base", str(base / "bundle.yaml"), "--sign-key", str(key))
    assert built.returncode == 0, built.stderr
    manifest = yaml.safe_load((delta / "bundle.yaml").read_text())
    # A whole bundle's canonical digest is its manifest's sha256: seal writes it the canonical way.
    assert manifest["base"]["manifest_sha256"] == hashlib.sha256((base / "bundle.yaml").read_bytes()).hexdigest()
    left_out = {item["path"] for item in manifest["files"] if item.get("from_base")}
    assert left_out == {item["path"] for item in manifest["files"]} - {"install.sh"} - {
        path
        for component in manifest["components"]
        if component["kind"] in ("runtime", "wheel")
        for path in component["paths"]
    }
    assert not (delta / "bin" / "k3s").exists()
    verified = run_cli("bundle", "verify", str(delta), "--key", f"{key}.pub")
    assert verified.returncode == 1 and "delta" in verified.stdout
    done = run_cli("bundle", "complete", str(delta), "--base", str(base), "--key", f"{key}.pub")
    assert done.returncode == 0, done.stderr
    whole = run_cli("bundle", "verify", str(delta), "--key", f"{key}.pub")
    assert whole.returncode == 0, whole.stdout
    for path in left_out:
        assert (delta / path).read_bytes() == (base / path).read_bytes()

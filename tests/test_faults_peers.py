"""Peers that accept a connection and never answer (issue 22, class 4): every command that talks to
one ends with exit 4 and the peer's name, within its documented bound, instead of hanging.

The peer is a real TCP listener that accepts and stays silent (tests/support/faults.py); the
per-call timeout is shortened through GREENZONE_PEER_TIMEOUT, the knob the README documents, so the
suite does not wait 30 s per case. The subprocess timeout is the hang detector.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from greenzone import peers
from greenzone.bundle.download import DownloadError, fetch
from greenzone.bundle.registry import Registry, RegistryUnreachable
from tests.support.faults import silent_peer
from tests.support.paths import REPO
from tests.support.registry import running_registry
from tests.support.sync import OVERLAY, make_sync_bundle, write_target

TIMEOUT = "2"


def _run(tmp_path: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GREENZONE_STATE_DIR": str(tmp_path / "state"),
        "GREENZONE_PEER_TIMEOUT": TIMEOUT,
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [sys.executable, "-m", "greenzone", *args],
        capture_output=True, text=True, env=env, cwd=REPO, timeout=timeout, check=False,
    )  # fmt: skip


def _silent_exit(done: subprocess.CompletedProcess[str], peer: str) -> None:
    output = done.stdout + done.stderr
    assert done.returncode == 4, output
    assert peer in output and f"did not answer within {TIMEOUT} s" in output, output
    assert "Traceback" not in output and "internal error" not in output, output


def test_the_registry_client_names_a_silent_registry_within_its_timeout() -> None:
    with silent_peer() as (host, port):
        registry = Registry(f"http://{host}:{port}", timeout=0.5)
        with pytest.raises(RegistryUnreachable, match=rf"registry http://{host}:{port} did not answer within 0.5 s"):
            registry.has_blob("greenzone/x", "sha256:" + "0" * 64)


def test_a_download_from_a_silent_server_gives_up_after_its_retries(tmp_path: Path) -> None:
    with silent_peer() as (host, port):
        url = f"http://{host}:{port}/k3s"
        with pytest.raises(DownloadError, match=r"no answer within 0\.3 s") as raised:
            fetch(url, tmp_path / "k3s", "0" * 64, retries=1, timeout=0.3, backoff=0.01)
    assert url in raised.value.title


def test_helm_durations_are_parsed_as_helm_reads_them() -> None:
    assert peers.duration_seconds("10m") == 600
    assert peers.duration_seconds("1h30m") == 5400
    assert peers.duration_seconds("90s") == 90
    for bad in ("ten", "10x", "", "m10"):
        with pytest.raises(ValueError):
            peers.duration_seconds(bad)


@pytest.fixture(scope="module")
def sync_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sync-silent")
    make_sync_bundle(root / "bundle")
    return root


def _target(root: Path, registry: str, kubeconfig: Path | None = None) -> Path:
    target = write_target(root / "target.yaml", registry, overlay=OVERLAY)
    if kubeconfig is not None:
        document = yaml.safe_load(target.read_text())
        document["kubeconfig"] = str(kubeconfig)
        target.write_text(yaml.safe_dump(document))
    return target


def _kubeconfig(path: Path, server: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "cloud", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
                "users": [{"name": "cloud", "user": {"token": "t0ken-not-echoed"}}],
                "contexts": [{"name": "cloud", "context": {"cluster": "cloud", "user": "cloud"}}],
                "current-context": "cloud",
            }
        )
    )
    return path


@pytest.fixture
def world(sync_world: Path, tmp_path: Path) -> Iterator[Path]:
    """The module's bundle, with this test's own target and outputs."""
    for name in ("bundle", "answers.yaml"):
        (tmp_path / name).symlink_to(sync_world / name)
    yield tmp_path


@pytest.mark.parametrize("render_only", [True, False], ids=["render-only", "install"])
def test_sync_against_a_silent_registry_ends_with_exit_4_naming_it(world: Path, render_only: bool) -> None:
    with silent_peer() as (host, port):
        target = _target(world, f"{host}:{port}/greenzone", _kubeconfig(world / "kc", "https://127.0.0.1:1"))
        extra = ["--render-only", str(world / "gitops")] if render_only else []
        done = _run(world, "sync", "--target", str(target), "--answers", str(world / "answers.yaml"), *extra)
    _silent_exit(done, f"registry http://{host}:{port}")
    assert not (world / "gitops").exists()


def test_sync_against_a_silent_kubernetes_api_ends_with_exit_4_naming_it(world: Path) -> None:
    with running_registry(world / "cloud-registry") as cloud, silent_peer() as (host, port):
        target = _target(
            world, f"{cloud.removeprefix('http://')}/greenzone", _kubeconfig(world / "kc", f"https://{host}:{port}")
        )
        done = _run(world, "sync", "--target", str(target), "--answers", str(world / "answers.yaml"))
    _silent_exit(done, f"https://{host}:{port}")
    assert "t0ken-not-echoed" not in done.stdout + done.stderr


def test_parity_against_a_silent_cloud_cluster_ends_with_exit_4_naming_it(world: Path) -> None:
    with silent_peer() as (host, port):
        target = _target(world, "127.0.0.1:1/greenzone", _kubeconfig(world / "kc", f"https://{host}:{port}"))
        done = _run(
            world,
            "parity",
            "--target",
            str(target),
            "--answers",
            str(world / "answers.yaml"),
            "--no-registry",
            "--json",
        )
    _silent_exit(done, f"https://{host}:{port}")


def test_bundle_lock_update_against_a_silent_server_ends_with_exit_4_naming_it(tmp_path: Path) -> None:
    with silent_peer() as (host, port):
        url = f"http://{host}:{port}/k3s"
        lock = tmp_path / "bundle.lock.yaml"
        lock.write_text(
            "lock_version: 1\nplatforms: [linux/amd64]\nfiles:\n"
            f"  - {{name: k3s, version: v1, kind: binary, url: '{url}', sha256: unresolved, dest: bin/k3s}}\n"
        )
        done = _run(tmp_path, "bundle", "lock", str(lock), "--update")
    _silent_exit(done, url)
    assert "unresolved" in lock.read_text()


def test_health_with_every_endpoint_silent_ends_within_its_budget(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    answers.write_text(_run(tmp_path, "answers", "example").stdout)
    with silent_peer() as (host, port):
        url = f"https://{host}:{port}"
        done = _run(
            tmp_path, "health", "--answers", str(answers), "--layer", "registry", "--layer", "inference",
            "--endpoint", f"registry={url}", "--endpoint", f"inference={url}", "--endpoint", f"chat={url}",
            "--budget", "3", "--json", timeout=30,
        )  # fmt: skip
    envelope = json.loads(done.stdout)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    silent = [check for check in envelope["checks"] if "no answer within" in check["detail"]]
    assert silent, envelope["checks"]

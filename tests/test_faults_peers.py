"""Peers that accept a connection and never answer (issue 22, class 4): every command that talks to
one ends with exit 4 and the peer's name, within its documented bound, instead of hanging.

The peer is a real TCP listener that accepts and stays silent (tests/support/faults.py); the
per-call timeout is shortened through GREENZONE_PEER_TIMEOUT, the knob the README documents, so the
suite does not wait 30 s per case. The subprocess timeout is the hang detector.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from greenzone import peers
from greenzone.bundle.download import DownloadError, fetch
from greenzone.bundle.registry import Registry, RegistryUnreachable
from tests.support.faults import group_members, interrupt_at, silent_peer, stalling_registry
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


def test_sync_stuck_on_a_silent_registry_ends_on_sigterm_with_exit_130_and_no_child_left(world: Path) -> None:
    with silent_peer() as (host, port):
        target = _target(world, f"{host}:{port}/greenzone", _kubeconfig(world / "kc", "https://127.0.0.1:1"))
        command = [sys.executable, "-m", "greenzone", "sync", "--target", str(target),
                   "--answers", str(world / "answers.yaml"), "--render-only", str(world / "gitops")]  # fmt: skip
        env = {**os.environ, "GREENZONE_STATE_DIR": str(world / "state"), "GREENZONE_PEER_TIMEOUT": "60"}
        result = interrupt_at(command, after=8.0, sig=signal.SIGTERM, env=env, cwd=REPO, timeout=20)
    assert result.signalled, "sync ended before the signal: the silent registry did not hold it"
    assert result.returncode == 130 and "interrupted (SIGTERM)" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and result.survivors == []
    assert not (world / "gitops").exists()


def test_sync_interrupted_while_helm_pushes_leaves_no_helm_running(world: Path) -> None:
    """The registry says it lacks the chart, then stalls the upload: SIGTERM arrives while `helm push`
    (a child process) waits on it; greenzone must stop helm before it exits."""
    with stalling_registry() as url:
        target = _target(
            world, f"{url.removeprefix('http://')}/greenzone", _kubeconfig(world / "kc", "https://127.0.0.1:1")
        )
        command = [sys.executable, "-m", "greenzone", "sync", "--target", str(target),
                   "--answers", str(world / "answers.yaml"), "--render-only", str(world / "gitops")]  # fmt: skip
        env = {**os.environ, "GREENZONE_STATE_DIR": str(world / "state")}
        process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
            start_new_session=True,
        )  # fmt: skip
        try:
            helm = _wait_for_child(process.pid, "helm", within=60)
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    assert helm, "helm push never started"
    assert process.returncode == 130 and "interrupted (SIGTERM)" in err, err
    assert group_members(process.pid) == [], "a child outlived greenzone"


def _wait_for_child(pid: int, name: str, within: float) -> int:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        for member in group_members(pid):
            if member != pid and Path(f"/proc/{member}/comm").read_text().strip() == name:
                return member
        time.sleep(0.1)
    return 0


def test_a_helm_conversation_is_bounded_and_only_its_own_bound_is_called_silence(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from greenzone.cluster.helm import run_bounded

    monkeypatch.setattr(peers, "HELM_GRACE", 0.2)

    async def silent_api() -> None:
        await asyncio.sleep(60)

    with pytest.raises(
        peers.PeerSilent, match=r"the API at https://x did not answer within 0\.2 s \(helm install of r\)"
    ):
        run_bounded(silent_api(), "0s", "the API at https://x", "helm install of r")

    async def helm_times_out_itself() -> None:
        raise TimeoutError("helm's own timeout")

    with pytest.raises(TimeoutError, match="helm's own timeout"):
        run_bounded(helm_times_out_itself(), "10m", "the API at https://x", "helm install of r")

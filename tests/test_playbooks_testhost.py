"""The playbooks for real, over real SSH, against throw-away Debian hosts (tests/support/testhost.py).

Everything host-level runs: the preflight checks, the k3s air-gap files (binary, images archive,
install.sh, each checked against the bundle's manifest by sha256), config.yaml and registries.yaml
with their modes, the CA, /etc/hosts, the bootstrap images archive built from the bundle's OCI layout
and copied to each node, the models copied to GPU nodes, helm unpacked on the installing machine.

Not exercised here, and why: everything tagged `cluster` (install.sh starting the k3s service and
the waits for Ready, which need systemd and a kernel k3s can run on; the image import into a running
containerd; the Secrets, the Helm releases and the push into Harbor, which need a cluster) and `gpu`
(nvidia-smi). These tests skip those tags, so every phase still runs end to end through the runner.
"""

from __future__ import annotations

import json
import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from greenzone.answers.files import load_valid_answers
from greenzone.deploy.ansible_events import PhaseProgress
from greenzone.deploy.plan import plan
from greenzone.deploy.state import InstallState
from greenzone.install.session import InstallSession
from greenzone.install.tracker import Tracker
from greenzone.statedir import StateDir
from tests.support.deploy import answers_text, make_bundle, ssh_node
from tests.support.testhost import TestHost, missing_tools, running_host, ssh_key

pytestmark = [pytest.mark.slow, pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))]

SKIP = ("cluster", "gpu")
# This machine is smaller than an appliance: its failures are overridden by name, as an operator
# would with `--force-preflight`; the checks' own failure is tested below.
SMALL_MACHINE = frozenset({"cpu", "memory", "disk k3s data dir", "os"})  # and a Debian test host


class Install:
    """One appliance on a set of test hosts, driven through the install session like every front end."""

    def __init__(
        self, work: Path, bundle: Path, nodes: list[dict[str, object]], registry_port: int | None = None
    ) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.answers_file = work / "answers.yaml"
        self.answers_file.write_text(answers_text(bundle, nodes, registry_port=registry_port))
        self.answers = load_valid_answers(self.answers_file)
        self.bundle = bundle
        self.state = StateDir(work / "state")
        self.phases = [phase.name for phase in plan(self.answers)]
        self.lines: list[str] = []

    def session(self, **options: Any) -> InstallSession:
        return InstallSession(self.state, skip_tags=SKIP, **{"forced": SMALL_MACHINE, **options})

    def listen(self, tracker: Tracker, progress: PhaseProgress, line: str | None) -> None:
        if line:
            self.lines.append(line)

    def run(self, session: InstallSession | None = None, **options: Any) -> list[PhaseProgress]:
        session = session or self.session(**options)
        prepared = session.prepare(self.answers, self.answers_file, self.bundle)
        return list(session.run(prepared, self.listen).progress)

    def rerun_every_phase(self) -> list[PhaseProgress]:
        """Each phase again, whatever the state says: the idempotence check (`deploy --rerun`)."""
        return self.run(rerun=True)

    def credentials(self) -> dict[str, str]:
        loaded: dict[str, str] = yaml.safe_load(self.state.credentials.read_text())
        return loaded


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("playbooks")


@pytest.fixture(scope="module")
def bundle(work: Path) -> Path:
    return make_bundle(work / "bundle")


@pytest.fixture(scope="module")
def key(work: Path) -> Path:
    return ssh_key(work)


@pytest.fixture(scope="module")
def single(work: Path, bundle: Path, key: Path) -> Iterator[tuple[Install, TestHost]]:
    with running_host(work / "host-a", key) as host:
        install = Install(work / "single", bundle, [ssh_node(host.port, key, name="gz-1")])
        yield install, host


def test_single_node_installs_host_level_then_changes_nothing(single: tuple[Install, TestHost], bundle: Path) -> None:
    install, host = single
    first = install.run()
    assert [p.phase for p in first] == install.phases
    assert all(p.outcome == "successful" for p in first), [f.line() for p in first for f in p.failures]
    assert sum(p.changed for p in first) > 0

    manifest = yaml.safe_load((bundle / "bundle.yaml").read_text())
    sums = {item["path"]: item["sha256"] for item in manifest["files"]}
    k3s = host.path("/usr/local/bin/k3s")
    assert k3s.read_bytes() == (bundle / "bin/k3s").read_bytes() and _mode(k3s) == 0o755
    assert host.path("/var/lib/rancher/k3s/agent/images/k3s-airgap-images-amd64.tar.zst").is_file()
    assert _mode(host.path("/usr/local/share/greenzone/k3s-install.sh")) == 0o755
    assert sums["bin/k3s"]  # the role compared the copy with this; a tampered copy is the next test

    config_path = host.path("/etc/rancher/k3s/config.yaml")
    config = yaml.safe_load(config_path.read_text())
    assert _mode(config_path) == 0o600
    assert config["token"] == install.credentials()["k3s_token"]
    assert config["node-name"] == "gz-1" and "server" not in config and "cluster-init" not in config
    assert config["tls-san"] == ["ai.test.internal"] and config["node-label"] == ["greenzone.io/gpu-node=true"]

    registries_path = host.path("/etc/rancher/k3s/registries.yaml")
    registries = yaml.safe_load(registries_path.read_text())
    assert _mode(registries_path) == 0o600
    mirrors = dict(registries["mirrors"])
    # Any other registry goes to Harbor too, without a rewrite (no Harbor project stands for it).
    assert mirrors.pop("*") == {"endpoint": ["https://registry.ai.test.internal"]}
    assert set(mirrors) == {"docker.io", "nvcr.io", "ghcr.io", "quay.io", "registry.k8s.io"}
    for upstream, mirror in mirrors.items():
        assert mirror["endpoint"] == ["https://registry.ai.test.internal"]
        assert mirror["rewrite"] == {"^(.*)$": f"{upstream}/$1"}
    assert config["disable-default-registry-endpoint"] is True
    assert registries["configs"]["registry.ai.test.internal"]["tls"]["ca_file"] == "/etc/rancher/k3s/greenzone-ca.crt"
    ca = host.path("/etc/rancher/k3s/greenzone-ca.crt").read_text()
    assert ca == install.credentials()["ca_crt"] and "PRIVATE KEY" not in ca
    assert "127.0.0.1 registry.ai.test.internal" in host.path("/etc/hosts").read_text().splitlines()

    archive = host.path("/var/lib/rancher/k3s/agent/images/greenzone-bootstrap-images.tar")
    assert archive.read_bytes() == install.state.bootstrap_archive.read_bytes()
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    names = sorted(entry["annotations"]["io.containerd.image.name"] for entry in index["manifests"])
    assert names == sorted(["nvcr.io/nvidia/gpu-operator:v25.10.1", "docker.io/goharbor/harbor-core:v2.15.1"])

    blob = "models/ollama/blobs/sha256-" + "ab" * 32
    assert host.path(f"/var/lib/greenzone/bundle/{blob}").read_bytes() == (bundle / blob).read_bytes()
    assert install.state.helm.is_file()

    # The second run: every phase again, nothing changes, and the progress model says so.
    second = install.rerun_every_phase()
    assert all(p.outcome == "successful" for p in second), [f.line() for p in second for f in p.failures]
    assert [(p.phase, p.changes) for p in second if p.changed] == []
    # The progress model's total (from --list-tasks) is what the real event stream then started.
    assert [(p.phase, p.task_index) for p in second] == [(p.phase, p.tasks_total) for p in second]

    # Resume: the state says every phase is done with these inputs, so nothing is left to run.
    assert install.run() == []

    log = install.state.install_log
    assert _mode(log) == 0o600 and "TASK [k3s : Write the k3s configuration" in log.read_text()
    for secret in (install.credentials()["k3s_token"], install.credentials()["harbor_database_password"]):
        assert secret not in log.read_text()


def test_check_mode_predicts_no_change_and_records_nothing(single: tuple[Install, TestHost]) -> None:
    install, _ = single
    if not install.state.install_state.exists():
        install.run()
    before = install.state.install_state.read_text()
    checked = install.run(check=True)
    assert [p.phase for p in checked] == install.phases
    assert all(p.outcome == "successful" and p.changed == 0 for p in checked), [p.changes for p in checked]
    assert install.state.install_state.read_text() == before


def test_a_tampered_bundle_file_fails_readably_and_the_rerun_resumes_there(
    single: tuple[Install, TestHost], bundle: Path
) -> None:
    install, host = single
    binary = bundle / "bin/k3s"
    original = binary.read_bytes()
    state = InstallState.load(install.state.install_state)
    for phase in install.phases:  # as after an interrupted install that had finished preflight only
        if phase != "preflight":
            state.phases.pop(phase, None)
    state.save()
    try:
        binary.write_bytes(original + b"tampered")
        failed = install.run()
        assert [p.phase for p in failed] == ["k3s"]  # preflight was done: skipped
        (failure,) = failed[0].failures
        assert failure.host == "gz-1" and failure.task == "k3s : Check the copied files against the bundle's manifest"
        assert "the bundle's manifest says" in failure.message and "greenzone bundle verify" in failure.message
        assert "{" not in failure.message  # a sentence, not the result JSON
        recorded = InstallState.load(install.state.install_state).phases["k3s"]
        assert recorded.status == "failed" and "gz-1" in recorded.message
    finally:
        binary.write_bytes(original)
    resumed = install.run()
    assert [p.phase for p in resumed] == install.phases[1:]
    assert all(p.outcome == "successful" for p in resumed)
    assert host.path("/usr/local/bin/k3s").read_bytes() == original


def test_preflight_stops_early_naming_every_problem(work: Path, bundle: Path, single: tuple[Install, TestHost]) -> None:
    """The node's own preflight: this 2-core machine fails `cpu` unless forced, and the registry port
    the answers ask for is taken (by the test host's sshd); both are named in one message."""
    _, host = single
    install = Install(work / "busy-port", bundle, [ssh_node(host.port, host.key, name="gz-1")], registry_port=host.port)
    (progress,) = install.run(forced=frozenset({"memory", "disk k3s data dir", "os"}), only=("preflight",))
    assert progress.outcome == "failed"
    (failure,) = progress.failures
    assert failure.task == "preflight : Check this node with the installer's preflight rules"
    if (os.cpu_count() or 1) < 4:  # this kind of machine has 2 cores; a bigger one passes `cpu`
        assert f"cpu: {os.cpu_count()} logical cores" in failure.message and "at least 4 cores" in failure.message
    assert f"port {host.port}: in use by sshd; Harbor registry needs it" in failure.message
    assert "port 6443" not in failure.message
    assert InstallState.load(install.state.install_state).phases["preflight"].status == "failed"


def test_cancel_stops_the_phase(single: tuple[Install, TestHost]) -> None:
    install, _ = single
    session = install.session(only=("k3s",), rerun=True)

    def cancel_after_two_tasks(tracker: Tracker, progress: PhaseProgress, line: str | None) -> None:
        if progress.task_index >= 2:
            session.cancel()

    prepared = session.prepare(install.answers, install.answers_file, install.bundle)
    (progress,) = session.run(prepared, cancel_after_two_tasks).progress
    assert progress.outcome == "canceled"
    assert 2 <= progress.task_index < progress.tasks_total


def test_two_nodes_over_ssh_server_and_agent(work: Path, bundle: Path, key: Path) -> None:
    """Multi-node: the generated inventory reaches two hosts over SSH; the agent joins the server."""
    with running_host(work / "host-s", key) as server, running_host(work / "host-g", key) as agent:
        nodes = [
            ssh_node(server.port, key, address="127.0.0.1", name="gz-server"),
            ssh_node(agent.port, key, address="localhost", role="agent", name="gz-gpu"),
        ]
        install = Install(work / "multi", bundle, nodes)
        first = install.run()
        assert all(p.outcome == "successful" for p in first), [f.line() for p in first for f in p.failures]
        token = install.credentials()["k3s_token"]
        server_config = yaml.safe_load(server.path("/etc/rancher/k3s/config.yaml").read_text())
        agent_config = yaml.safe_load(agent.path("/etc/rancher/k3s/config.yaml").read_text())
        assert server_config["token"] == agent_config["token"] == token
        assert "server" not in server_config and agent_config["server"] == "https://127.0.0.1:6443"
        assert "cluster-cidr" not in agent_config and "node-label" not in server_config
        assert agent_config["node-label"] == ["greenzone.io/gpu-node=true"]
        for host in (server, agent):
            assert host.path("/etc/rancher/k3s/registries.yaml").is_file()
            assert host.path("/var/lib/rancher/k3s/agent/images/greenzone-bootstrap-images.tar").is_file()
        # Models go where the GPU workloads run: the agent, not the server.
        assert agent.path("/var/lib/greenzone/bundle/models/ollama").is_dir()
        assert not server.path("/var/lib/greenzone/bundle/models").exists()
        second = install.rerun_every_phase()
        assert [(p.phase, p.changes) for p in second if p.changed] == []

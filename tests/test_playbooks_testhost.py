"""The playbooks for real, over real SSH, against throw-away Debian hosts (tests/testhost.py).

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
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from greenzone.answers.files import load_valid_answers
from greenzone.deploy.events import PhaseProgress
from greenzone.deploy.plan import plan
from greenzone.deploy.runner import PlaybookRunner, run_phases
from greenzone.deploy.state import InstallState, answers_identity, inputs_digest
from greenzone.deploy.workspace import PLAYBOOKS_DIR, Workspace, prepare
from tests.deploy_fixture import answers_text, make_bundle, ssh_node
from tests.testhost import TestHost, missing_tools, running_host, ssh_key

pytestmark = [pytest.mark.slow, pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))]

SKIP = ("cluster", "gpu")
# This machine is smaller than an appliance; the thresholds' own failure is tested below.
SMALL_MACHINE = {"preflight_min_cpus": 1, "preflight_min_memory_mb": 512, "preflight_min_free_gb": 1}


class Install:
    """One appliance: answers, workspace, runner and state, for a set of test hosts."""

    def __init__(self, work: Path, bundle: Path, nodes: list[dict[str, object]]) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.answers_file = work / "answers.yaml"
        self.answers_file.write_text(answers_text(bundle, nodes))
        self.answers = load_valid_answers(self.answers_file)
        self.workspace: Workspace = prepare(self.answers, work / "state", source=str(self.answers_file))
        self.inputs = inputs_digest(answers_identity(self.answers), (bundle / "bundle.yaml").read_text())
        self.phases = [phase.name for phase in plan(self.answers)]
        self.lines: list[str] = []

    def runner(self, **extra: object) -> PlaybookRunner:
        return PlaybookRunner(
            PLAYBOOKS_DIR,
            self.workspace.inventory_file,
            {**self.workspace.extravars, **SMALL_MACHINE, **extra},
            self.workspace.log_file,
        )

    def listen(self, progress: PhaseProgress, line: str | None) -> None:
        if line:
            self.lines.append(line)

    def run(self, runner: PlaybookRunner | None = None, *, check: bool = False) -> list[PhaseProgress]:
        state = InstallState.load(self.workspace.state_file)
        return run_phases(
            runner or self.runner(), self.phases, state, self.inputs, check=check, skip_tags=SKIP, listener=self.listen
        )

    def rerun_every_phase(self) -> list[PhaseProgress]:
        """Each phase again, whatever the state says: the idempotence check."""
        runner = self.runner()
        return [runner.run(phase, skip_tags=SKIP, listener=self.listen) for phase in self.phases]

    def credentials(self) -> dict[str, str]:
        loaded: dict[str, str] = yaml.safe_load((self.workspace.state_dir / "credentials.yaml").read_text())
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
    assert set(registries["mirrors"]) == {"docker.io", "nvcr.io", "ghcr.io", "quay.io", "registry.k8s.io"}
    for upstream, mirror in registries["mirrors"].items():
        assert mirror["endpoint"] == ["https://registry.ai.test.internal"]
        assert mirror["rewrite"] == {"^(.*)$": f"{upstream}/$1"}
    assert registries["configs"]["registry.ai.test.internal"]["tls"]["ca_file"] == "/etc/rancher/k3s/greenzone-ca.crt"
    ca = host.path("/etc/rancher/k3s/greenzone-ca.crt").read_text()
    assert ca == install.credentials()["ca_crt"] and "PRIVATE KEY" not in ca
    assert "127.0.0.1 registry.ai.test.internal" in host.path("/etc/hosts").read_text().splitlines()

    archive = host.path("/var/lib/rancher/k3s/agent/images/greenzone-bootstrap-images.tar")
    assert archive.read_bytes() == (install.workspace.state_dir / "greenzone-bootstrap-images.tar").read_bytes()
    with tarfile.open(archive) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
    names = sorted(entry["annotations"]["io.containerd.image.name"] for entry in index["manifests"])
    assert names == sorted(["nvcr.io/nvidia/gpu-operator:v25.10.1", "docker.io/goharbor/harbor-core:v2.15.1"])

    blob = "models/ollama/blobs/sha256-" + "ab" * 32
    assert host.path(f"/var/lib/greenzone/bundle/{blob}").read_bytes() == (bundle / blob).read_bytes()
    assert (install.workspace.state_dir / "bin" / "helm").is_file()

    # The second run: every phase again, nothing changes, and the progress model says so.
    second = install.rerun_every_phase()
    assert all(p.outcome == "successful" for p in second)
    assert [(p.phase, p.changes) for p in second if p.changed] == []
    # The progress model's total (from --list-tasks) is what the real event stream then started.
    assert [(p.phase, p.task_index) for p in second] == [(p.phase, p.tasks_total) for p in second]

    # Resume: the state says every phase is done with these inputs, so nothing is left to run.
    assert install.run() == []

    log = install.workspace.log_file
    assert _mode(log) == 0o600 and "TASK [k3s : Write the k3s configuration" in log.read_text()
    for secret in (install.credentials()["k3s_token"], install.credentials()["harbor_database_password"]):
        assert secret not in log.read_text()


def test_check_mode_predicts_no_change_and_records_nothing(single: tuple[Install, TestHost]) -> None:
    install, _ = single
    if not install.workspace.state_file.exists():
        install.run()
    before = install.workspace.state_file.read_text()
    checked = install.run(check=True)
    assert [p.phase for p in checked] == install.phases
    assert all(p.outcome == "successful" and p.changed == 0 for p in checked), [p.changes for p in checked]
    assert install.workspace.state_file.read_text() == before


def test_a_tampered_bundle_file_fails_readably_and_the_rerun_resumes_there(
    single: tuple[Install, TestHost], bundle: Path
) -> None:
    install, host = single
    binary = bundle / "bin/k3s"
    original = binary.read_bytes()
    state = InstallState.load(install.workspace.state_file)
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
        recorded = InstallState.load(install.workspace.state_file).phases["k3s"]
        assert recorded.status == "failed" and "gz-1" in recorded.message
    finally:
        binary.write_bytes(original)
    resumed = install.run()
    assert [p.phase for p in resumed] == install.phases[1:]
    assert all(p.outcome == "successful" for p in resumed)
    assert host.path("/usr/local/bin/k3s").read_bytes() == original


def test_preflight_stops_early_naming_every_problem(single: tuple[Install, TestHost]) -> None:
    install, host = single
    runner = install.runner(preflight_min_cpus=100000, greenzone_required_ports=[host.port, 6443])
    progress = runner.run("preflight", skip_tags=SKIP)
    assert progress.outcome == "failed"
    (failure,) = progress.failures
    assert failure.task == "preflight : Stop here when this node cannot run the appliance"
    assert "at least 100000 are needed" in failure.message
    assert (
        f"ports in use: {host.port}." in failure.message and "6443" not in failure.message.split("ports in use")[1][:12]
    )


def test_cancel_stops_the_phase(single: tuple[Install, TestHost]) -> None:
    install, _ = single
    runner = install.runner()

    def cancel_after_two_tasks(progress: PhaseProgress, line: str | None) -> None:
        if progress.task_index >= 2:
            runner.cancel()

    progress = runner.run("k3s", skip_tags=SKIP, listener=cancel_after_two_tasks)
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

"""The generated inventory, read back by the real `ansible-inventory`, and the resumable install state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from greenzone.answers.files import load_valid_answers
from greenzone.answers.rules import Context, check_rules
from greenzone.answers.validate import validate_text
from greenzone.deploy.inventory import build_inventory
from greenzone.deploy.state import InstallState, inputs_digest
from greenzone.errors import InputError
from greenzone.values.releases import appliance_releases
from tests.support.charts import ROOT, answers

ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"


def ansible_view(inventory: dict[str, object], tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "inventory.yml"
    path.write_text(yaml.safe_dump(inventory))
    result = subprocess.run(
        [str(ANSIBLE_INVENTORY), "-i", str(path), "--list"],
        capture_output=True,
        text=True,
        env={**os.environ, "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp")},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    view: dict[str, object] = json.loads(result.stdout)
    return view


def test_single_node_is_local_and_initialises_the_cluster(tmp_path: Path) -> None:
    view = ansible_view(build_inventory(load_valid_answers(ROOT / "examples/single-node-ollama.yaml")), tmp_path)
    hostvars = view["_meta"]["hostvars"]  # type: ignore[index]
    assert view["server"]["hosts"] == ["local"]  # type: ignore[index]
    assert "agent" not in view
    local = hostvars["local"]
    assert local["ansible_connection"] == "local" and local["k3s_init_server"] is True
    assert local["k3s_embedded_etcd"] is False
    assert local["greenzone_hostname"] == "ai.st-mary.local"
    assert "k3s_api_endpoint" not in local  # nobody joins a single node


def test_multi_node_has_ha_servers_agents_and_ssh_settings(tmp_path: Path) -> None:
    view = ansible_view(build_inventory(load_valid_answers(ROOT / "examples/multi-node-vllm.yaml")), tmp_path)
    hostvars = view["_meta"]["hostvars"]  # type: ignore[index]
    assert view["server"]["hosts"] == ["gz-cp-1", "gz-cp-2", "gz-cp-3"]  # type: ignore[index]
    assert view["agent"]["hosts"] == ["gz-gpu-1", "gz-gpu-2"]  # type: ignore[index]
    assert hostvars["gz-cp-1"]["ansible_connection"] == "local" and hostvars["gz-cp-1"]["k3s_init_server"] is True
    remote = hostvars["gz-gpu-2"]
    assert remote["ansible_host"] == "192.168.20.22" and remote["ansible_user"] == "greenzone"
    assert remote["ansible_ssh_private_key_file"] == "/root/.ssh/greenzone_ed25519"
    assert remote["ansible_become"] is True and "k3s_init_server" not in remote
    for host in hostvars.values():
        assert host["k3s_embedded_etcd"] is True
        assert host["k3s_api_endpoint"] == "https://192.168.20.11:6443"


def test_a_joined_cluster_needs_an_address_for_its_local_first_server() -> None:
    lonely = answers(
        nodes=[{"name": "cp", "address": "local"}, {"name": "gpu", "address": "10.0.0.5", "role": "agent"}]
    )
    problems = check_rules(lonely, Context())
    (problem,) = [p for p in problems if p.path == ("network", "advertise_ip")]
    assert problem.severity == "error" and "set `network.advertise_ip`" in problem.hint
    remote_first = answers(
        nodes=[{"name": "cp", "address": "10.0.0.4"}, {"name": "gpu", "address": "10.0.0.5", "role": "agent"}]
    )
    assert not [p for p in check_rules(remote_first, Context()) if p.path == ("network", "advertise_ip")]
    inventory = build_inventory(remote_first)
    assert inventory["all"]["children"]["k3s_cluster"]["vars"]["k3s_api_endpoint"] == "https://10.0.0.4:6443"


PHASES = ["preflight", "k3s", "images", "gpu_operator", "harbor", "inference", "guardrails"]


def test_state_resumes_after_a_failure_and_reruns_when_inputs_change(tmp_path: Path) -> None:
    path = tmp_path / "state" / "install.json"
    digest = inputs_digest("answers: 1", "bundle: 1")
    state = InstallState.load(path)
    assert state.pending(PHASES, digest) == PHASES
    for phase in PHASES[:2]:
        state.start(phase, digest)
        state.finish(phase, changed=3)
    state.start("images", digest)
    state.fail("images", "push to harbor failed: 401")
    assert path.stat().st_mode & 0o777 == 0o600

    again = InstallState.load(path)
    assert again.pending(PHASES, digest) == PHASES[2:]
    assert again.phases["images"].message == "push to harbor failed: 401"
    # A kill mid-phase leaves it `running`; it is simply run again.
    again.start("images", digest)
    assert InstallState.load(path).pending(PHASES, digest) == PHASES[2:]
    for phase in PHASES[2:]:
        again.start(phase, digest)
        again.finish(phase, changed=0)
    assert InstallState.load(path).pending(PHASES, digest) == []
    edited = inputs_digest("answers: 2", "bundle: 1")
    assert InstallState.load(path).pending(PHASES, edited) == PHASES
    assert inputs_digest("ab", "c") != inputs_digest("a", "bc")
    assert not [p for p in path.parent.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize(
    "content", ["{not json", '{"format": 99, "phases": {}}', '{"format": 1, "phases": {"k3s": {"bogus": 1}}}']
)
def test_a_damaged_state_file_is_named_with_the_way_out(tmp_path: Path, content: str) -> None:
    path = tmp_path / "install.json"
    path.write_text(content)
    with pytest.raises(InputError) as caught:
        InstallState.load(path)
    assert str(path) in caught.value.title and "move" in caught.value.hint


def test_node_ip_comes_from_the_answers_for_multi_nic_hosts() -> None:
    """k3s's `node-ip` (node identity, flannel, etcd): a node's own `ip`, else the advertised address
    on the first server; nothing when the answers say neither (k3s takes the default route's)."""
    document = yaml.safe_load((ROOT / "examples/multi-node-vllm.yaml").read_text())
    document["nodes"][3]["ip"] = "10.9.0.21"
    validation = validate_text(yaml.safe_dump(document), "multi.yaml")
    assert validation.answers is not None, [p.one_line() for p in validation.errors]
    hosts = {
        name: found
        for group in build_inventory(validation.answers)["all"]["children"]["k3s_cluster"]["children"].values()
        for name, found in group["hosts"].items()
    }
    first = document["nodes"][0]["name"]
    assert hosts[first]["k3s_node_ip"] == document["network"]["advertise_ip"]
    assert hosts[document["nodes"][3]["name"]]["k3s_node_ip"] == "10.9.0.21"
    assert "k3s_node_ip" not in hosts[document["nodes"][4]["name"]]
    document["nodes"][3]["ip"] = "10.9.0.300"
    refused = validate_text(yaml.safe_dump(document), "multi.yaml")
    assert [p.path for p in refused.errors] == [("nodes", 3, "ip")]


def test_no_phase_waits_for_a_crd_that_a_later_phase_brings() -> None:
    """The ServiceMonitor CRD comes with kube-prometheus-stack in the monitoring phase, after the GPU
    operator's: the operator must not be asked for one (its ClusterPolicy would stay NotReady), and
    the monitoring release scrapes the DCGM exporter's Service itself."""
    from greenzone.deploy.plan import ALL_PHASES
    from greenzone.values.gpu_operator import DCGM_PORT_NAME, DCGM_SERVICE_LABELS, OPERATOR_NAMESPACE

    order = [phase.name for phase in ALL_PHASES]
    assert order.index("gpu_operator") < order.index("monitoring")
    for example in ("examples/single-node-ollama.yaml", "examples/multi-node-vllm.yaml"):
        releases = {release.name: release for release in appliance_releases(load_valid_answers(ROOT / example))}
        assert releases["gpu-operator"].values["dcgmExporter"]["serviceMonitor"] == {"enabled": False}
        if "monitoring" in releases:
            (monitor,) = releases["monitoring"].values["prometheus"]["additionalServiceMonitors"]
            assert monitor["selector"]["matchLabels"] == DCGM_SERVICE_LABELS
            assert monitor["namespaceSelector"]["matchNames"] == [OPERATOR_NAMESPACE]
            assert [endpoint["port"] for endpoint in monitor["endpoints"]] == [DCGM_PORT_NAME]

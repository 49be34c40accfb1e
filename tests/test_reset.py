"""`greenzone reset` after a real install on a throw-away Debian host over real SSH.

The install runs as in test_install_unattended.py (`cluster` and `gpu` tasks skipped: no kernel here
runs k3s), so k3s's service and its uninstall script are never set up by install.sh; a stand-in
`k3s-uninstall.sh` is planted where install.sh writes the real one (INSTALL_K3S_BIN_DIR), doing what
upstream's does to the paths this test can see (removes /etc/rancher/k3s and /var/lib/rancher/k3s,
the binary) and leaving a mark, so the test knows the role ran it.
"""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.support.deploy import answers_text, make_bundle, ssh_node
from tests.support.paths import REPO
from tests.support.testhost import TestHost, missing_tools, running_host, ssh_key

pytestmark = [pytest.mark.slow, pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))]

FORCE = ["--force-preflight", "cpu,os", "--force-preflight", "disk k3s data dir,memory"]
SKIP = ["--skip-tags", "cluster", "--skip-tags", "gpu"]
UNINSTALL_STAND_IN = """#!/bin/sh
# Stand-in for k3s's uninstall script (install.sh's create_uninstall): what it removes here.
touch /root/k3s-uninstall-ran
rm -rf /etc/rancher/k3s /var/lib/rancher/k3s /usr/local/bin/k3s
rm -f "$0"
"""


def greenzone(state: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "greenzone", "--state-dir", str(state), *args],
        capture_output=True, text=True, cwd=REPO, stdin=subprocess.DEVNULL, timeout=600, check=False,
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PYTHONPATH": str(REPO / "installer"), "NO_COLOR": "1",
             "COLUMNS": "200", "HOME": str(state.parent)},
    )  # fmt: skip


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestHost]:
    work = tmp_path_factory.mktemp("reset-host")
    with running_host(work / "root", ssh_key(work)) as running:
        yield running


INSTALLED = [
    "usr/local/bin/k3s",
    "etc/rancher/k3s/config.yaml",
    "etc/rancher/k3s/registries.yaml",
    "etc/rancher/k3s/greenzone-ca.crt",
    "usr/local/share/greenzone/k3s-install.sh",
    "var/lib/rancher/k3s/agent/images",
]


def test_reset_removes_the_install_and_nothing_else_and_a_second_reset_changes_nothing(
    tmp_path: Path, host: TestHost
) -> None:
    bundle = make_bundle(tmp_path / "bundle")
    answers = tmp_path / "site.yaml"
    answers.write_text(answers_text(bundle, [ssh_node(host.port, host.key, name="gz-1")]))
    state = tmp_path / "state"
    done = greenzone(state, "install", "--answers", str(answers), "--yes", *SKIP, *FORCE)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    for path in INSTALLED:
        assert host.path(path).exists(), f"the install did not leave {path}; this test would prove nothing"
    host.path("usr/local/bin/k3s-uninstall.sh").write_text(UNINSTALL_STAND_IN)
    host.path("usr/local/bin/k3s-uninstall.sh").chmod(0o755)
    (host.path("etc/site-notes.txt")).write_text("the site's own file\n")
    host.path("var/lib/greenzone/model-store").mkdir(parents=True, exist_ok=True)
    (host.path("var/lib/greenzone/model-store") / "blob").write_text("weights")
    credentials_mode = stat.S_IMODE((state / "credentials.yaml").stat().st_mode)
    (state / "operator-notes.txt").write_text("not greenzone's\n")  # a reset moves only what greenzone names
    assert "registry.ai.test.internal" in host.path("etc/hosts").read_text()

    # No terminal and no --yes: refused, nothing changed.
    refused = greenzone(state, "reset")
    assert refused.returncode == 3 and "--yes" in refused.stderr and "Traceback" not in refused.stderr
    assert (state / "installed-answers.yaml").is_file() and host.path("usr/local/bin/k3s").exists()

    # --check lists what would go and changes nothing, on the node or here.
    check = greenzone(state, "reset", "--check", "--json")
    assert check.returncode == 0, check.stdout + check.stderr
    said = "\n".join(item["detail"] for item in json.loads(check.stdout)["checks"])
    assert "would 127.0.0.1" in said or "would root@127.0.0.1" in said, said
    assert "change(s) predicted" in said
    assert all(host.path(path).exists() for path in INSTALLED)
    assert (state / "installed-answers.yaml").is_file() and not host.path("root/k3s-uninstall-ran").exists()

    kept = greenzone(state, "reset", "--yes", "--keep-models", "--json")
    assert kept.returncode == 0, kept.stdout[-3000:] + kept.stderr[-3000:]
    assert host.path("root/k3s-uninstall-ran").exists(), "k3s's own uninstall script did not run"
    for path in INSTALLED:
        assert not host.path(path).exists(), f"{path} survived the reset"
    assert host.path("etc/site-notes.txt").read_text() == "the site's own file\n"  # not greenzone's
    assert (host.path("var/lib/greenzone/model-store") / "blob").is_file()  # --keep-models
    backup = Path(json.loads(kept.stdout)["data"]["backup"])
    assert backup.parent == state.parent and backup.name.startswith("state.reset-")
    assert (backup / "installed-answers.yaml").is_file() and (backup / "install.log").is_file()
    assert stat.S_IMODE((backup / "credentials.yaml").stat().st_mode) == credentials_mode == 0o600
    assert not (state / "installed-answers.yaml").exists()
    assert (state / "operator-notes.txt").read_text() == "not greenzone's\n" and not (
        backup / "operator-notes.txt"
    ).exists()
    assert "registry.ai.test.internal" not in host.path("etc/hosts").read_text()  # the k3s role's line is gone

    # Again: nothing is installed from this state directory any more.
    again = greenzone(state, "reset", "--yes")
    assert again.returncode == 0 and "nothing to reset" in again.stdout
    # With the answers (the nodes named by hand) and without --keep-models: the model store goes now,
    # and the next run finds every node clean.
    for expected in ("1 change(s) made on the nodes", "nothing left to remove"):
        named = greenzone(state, "reset", "--yes", "--answers", str(answers), "--json")
        assert named.returncode == 0, named.stdout[-3000:] + named.stderr[-3000:]
        details = [item["detail"] for item in json.loads(named.stdout)["checks"] if item["name"] == "nodes"]
        assert details == [expected], details
    assert not host.path("var/lib/greenzone/model-store").exists()
    assert host.path("etc/site-notes.txt").is_file()


def test_node_remove_drains_resets_and_forgets_one_node_and_nothing_else(
    tmp_path: Path, host: TestHost, tmp_path_factory: pytest.TempPathFactory
) -> None:
    work = tmp_path_factory.mktemp("agent-host")
    with running_host(work / "root", ssh_key(work)) as agent:
        bundle = make_bundle(tmp_path / "bundle")
        answers = tmp_path / "site.yaml"
        nodes = [
            ssh_node(host.port, host.key, name="gz-1"),
            ssh_node(agent.port, agent.key, address="localhost", role="agent", name="gz-2"),
        ]
        answers.write_text(answers_text(bundle, nodes))
        state = tmp_path / "state"
        done = greenzone(state, "install", "--answers", str(answers), "--yes", *SKIP, *FORCE)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        assert agent.path("usr/local/bin/k3s").exists() and host.path("usr/local/bin/k3s").exists()

        unknown = greenzone(state, "node", "remove", "gz-9", "--yes")
        assert unknown.returncode == 3 and "gz-1, gz-2" in unknown.stderr
        first = greenzone(state, "node", "remove", "gz-1", "--yes")
        assert first.returncode == 3 and "first server" in first.stderr

        check = greenzone(state, "node", "remove", "gz-2", "--check")
        assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
        assert "would be drained" in check.stdout and agent.path("usr/local/bin/k3s").exists()

        removed = greenzone(state, "node", "remove", "gz-2", "--yes")
        assert removed.returncode == 0, removed.stdout[-3000:] + removed.stderr[-3000:]
        assert not agent.path("usr/local/bin/k3s").exists() and not agent.path("etc/rancher/k3s/config.yaml").exists()
        assert host.path("usr/local/bin/k3s").exists() and host.path("etc/rancher/k3s/config.yaml").exists()
        installed = yaml.safe_load((state / "installed-answers.yaml").read_text())
        assert [node["name"] for node in installed["nodes"]] == ["gz-1"]
        assert "gz-2" not in (state / "inventory.json").read_text()
        # The plan an install would now run has one node: the answers are valid without it.
        again = greenzone(state, "node", "remove", "gz-2", "--yes")
        assert again.returncode == 3 and "no node 'gz-2'" in again.stderr


def test_node_add_joins_one_node_from_this_machines_bundle_and_refuses_anything_more(
    tmp_path: Path, host: TestHost, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A server and an agent installed; a second agent added (adding the first agent would move the
    GPU workloads off the server, a change for `greenzone install`, refused below)."""
    agent_work, new_work = tmp_path_factory.mktemp("add-agent"), tmp_path_factory.mktemp("add-new")
    with (
        running_host(agent_work / "root", ssh_key(agent_work)) as agent,
        running_host(new_work / "root", ssh_key(new_work), address="127.0.0.3") as newcomer,
    ):
        bundle = make_bundle(tmp_path / "bundle")
        server = ssh_node(host.port, host.key, name="gz-1")
        first_agent = ssh_node(agent.port, agent.key, address="localhost", role="agent", name="gz-2")
        installed = tmp_path / "site.yaml"
        installed.write_text(answers_text(bundle, [server, first_agent]))
        state = tmp_path / "state"
        done = greenzone(state, "install", "--answers", str(installed), "--yes", *SKIP, *FORCE)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
        server_config = host.path("etc/rancher/k3s/config.yaml").read_text()
        credentials = (state / "credentials.yaml").read_bytes()

        new = ssh_node(newcomer.port, newcomer.key, address="127.0.0.3", role="agent", name="gz-3")
        grown = tmp_path / "grown.yaml"
        grown.write_text(answers_text(bundle, [server, first_agent, new]))
        more = tmp_path / "more.yaml"  # a second server: two servers cannot keep etcd's quorum
        more.write_text(answers_text(bundle, [server, first_agent, {**new, "role": "server"}]))
        refused = greenzone(state, "node", "add", "gz-3", "--answers", str(more), "--yes", *SKIP, *FORCE)
        assert refused.returncode == 3 and "odd number" in refused.stderr, refused.stderr
        changed = tmp_path / "changed.yaml"
        changed.write_text(grown.read_text().replace("ai.test.internal", "ai2.test.internal"))
        refused = greenzone(state, "node", "add", "gz-3", "--answers", str(changed), "--yes", *SKIP, *FORCE)
        assert refused.returncode == 3 and "also change network" in refused.stderr, refused.stderr
        wrong = greenzone(state, "node", "add", "gz-9", "--answers", str(grown), "--yes", *SKIP, *FORCE)
        assert wrong.returncode == 3 and "no node 'gz-9'" in wrong.stderr

        check = greenzone(state, "node", "add", "gz-3", "--answers", str(grown), "--check", *SKIP, *FORCE)
        assert check.returncode == 0, check.stdout[-3000:] + check.stderr[-3000:]
        assert not newcomer.path("usr/local/bin/k3s").exists()
        assert _node_names(state) == ["gz-1", "gz-2"] and "gz-3" not in (state / "inventory.json").read_text()

        added = greenzone(state, "node", "add", "gz-3", "--answers", str(grown), "--yes", "--json", *SKIP, *FORCE)
        assert added.returncode in (0, 1), added.stdout[-3000:] + added.stderr[-3000:]  # health warns: no k3s here
        assert (
            newcomer.path("usr/local/bin/k3s").is_file() and newcomer.path("var/lib/rancher/k3s/agent/images").is_dir()
        )
        config = yaml.safe_load(newcomer.path("etc/rancher/k3s/config.yaml").read_text())
        assert config["server"] == "https://127.0.0.1:6443" and config.get("token")
        assert host.path("etc/rancher/k3s/config.yaml").read_text() == server_config  # the others untouched
        assert (state / "credentials.yaml").read_bytes() == credentials
        assert _node_names(state) == ["gz-1", "gz-2", "gz-3"] and "gz-3" in (state / "inventory.json").read_text()
        phases = {check["name"]: check["status"] for check in json.loads(added.stdout)["checks"]}
        assert {phases[f"{phase} on gz-3"] for phase in ("preflight", "k3s", "images")} == {"pass"}
        assert "health" in phases


def _node_names(state: Path) -> list[str]:
    return [node["name"] for node in yaml.safe_load((state / "installed-answers.yaml").read_text())["nodes"]]

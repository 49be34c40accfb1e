"""`greenzone install --answers FILE` with no terminal: the real CLI, the real playbooks, real SSH.

The nodes are throw-away Debian hosts (tests/support/testhost.py), so the install runs over SSH exactly as
it would against a remote appliance node; `cluster` and `gpu` tasks are skipped because no kernel
here can run k3s and no GPU exists (see tests/test_playbooks_testhost.py). This machine is smaller
than an appliance, which also exercises `--force-preflight` on the nodes' own preflight role.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploy import answers_text, make_bundle, ssh_node
from tests.support.paths import REPO
from tests.support.testhost import TestHost, missing_tools, running_host, ssh_key

pytestmark = [pytest.mark.slow, pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))]

# The nodes' preflight role judges this 2-core CI machine; these are its known shortfalls.
FORCE = ["--force-preflight", "cpu,os", "--force-preflight", "disk k3s data dir,memory"]
SKIP = ["--skip-tags", "cluster", "--skip-tags", "gpu"]
PHASES = ["preflight", "k3s", "images", "gpu_operator", "harbor", "registry", "monitoring", "inference", "guardrails"]


_TMPDIRS: dict[Path, str] = {}


def _env(state: Path) -> dict[str, str]:
    # A short TMPDIR of its own: the phases' SSH control sockets land under it, so what an install
    # left running is told apart from other tests' processes (a socket path must stay short).
    scratch = _TMPDIRS.setdefault(state, tempfile.mkdtemp(prefix="gzt-", dir="/tmp"))
    return {
        **os.environ,
        "GREENZONE_STATE_DIR": str(state),
        "TMPDIR": scratch,
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }


def install(state: Path, answers: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command with no terminal (stdin is /dev/null), as an automation system runs it."""
    return subprocess.run(
        [sys.executable, "-m", "greenzone", "install", "--answers", str(answers), *args],
        capture_output=True,
        text=True,
        env=_env(state),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        timeout=600,
        check=False,
    )


def left_running(state: Path) -> list[str]:
    """Processes an install against `state` started (ansible-playbook, its workers, SSH masters) that
    are still alive: none may outlive greenzone."""
    needle, scratch = f"GREENZONE_STATE_DIR={state}".encode(), _env(state)["TMPDIR"]
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            environ = (proc / "environ").read_bytes().split(b"\0")
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        # greenzone itself has exited: whatever still carries its state dir (or, for an SSH master,
        # names a control socket under its TMPDIR) was left behind.
        if needle in environ or scratch in command:
            found.append(f"{proc.name}: {command}")
    return found


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def phase_outcomes(found: list[dict[str, Any]]) -> dict[str, str]:
    return {e["name"]: e["status"] for e in found if e["event"] == "phase" and e["status"] != "running"}


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("unattended")


@pytest.fixture(scope="module")
def bundle(work: Path) -> Path:
    return make_bundle(work / "bundle")


@pytest.fixture(scope="module")
def host(work: Path) -> Iterator[TestHost]:
    key = ssh_key(work)
    with running_host(work / "host", key) as running:
        yield running


@pytest.fixture(scope="module")
def answers(work: Path, bundle: Path, host: TestHost) -> Path:
    path = work / "site.yaml"
    path.write_text(answers_text(bundle, [ssh_node(host.port, host.key, name="gz-1")]))
    return path


def test_install_runs_every_phase_then_a_second_run_has_nothing_to_do(
    work: Path, answers: Path, host: TestHost
) -> None:
    state = work / "state-full"
    first = install(state, answers, "--yes", "--output", "json", *SKIP, *FORCE)
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    found = events(first.stdout)
    assert [e["name"] for e in found if e["event"] == "plan"] == PHASES
    assert {e["status"] for e in found if e["event"] == "plan"} == {"todo"}
    assert phase_outcomes(found) == dict.fromkeys(PHASES, "successful")
    # Local preflight is skipped (no node is this machine), and says why.
    assert any(e["event"] == "check" and e["name"] == "this machine" and e["status"] == "skip" for e in found)
    # The forced shortfalls were reported as warnings by the node's own preflight role.
    log = (state / "install.log").read_text()
    assert "overridden by --force-preflight" in log
    result = found[-1]
    assert result["event"] == "result" and result["exit_code"] == 0 and result["status"] == "pass"
    assert (host.root / "usr/local/bin/k3s").is_file()
    assert (host.root / "etc/rancher/k3s/config.yaml").stat().st_mode & 0o777 == 0o600
    # Every progress event carries the overall fraction and an ETA that ends at the end.
    finals = [e for e in found if e["event"] == "phase" and e["status"] == "successful"]
    assert [e["overall"] for e in finals] == sorted(e["overall"] for e in finals)
    assert finals[-1]["overall"] == 1.0 and finals[-1]["eta_seconds"] is None
    assert left_running(state) == []  # SSH masters (ControlPersist) included
    # One health run says whether the appliance works: here nothing runs k3s (its phase is skipped),
    # so the cluster-facing layers fail, each named with its fix, and the install's exit code stays 0.
    health = [e for e in found if e["event"] == "step" and e["name"] == "health"]
    assert [e["status"] for e in health] == ["running", "fail"], health
    assert health[-1]["counts"]["fail"] >= 1 and "fail" in health[-1]["detail"]
    assert any(e["event"] == "check" and e["group"] == "cluster" and "fix:" in e["detail"] for e in found)

    second = install(state, answers, "--yes", *SKIP, *FORCE)
    assert second.returncode == 0, second.stdout[-3000:]
    lines = second.stdout.splitlines()
    assert [line.split()[1] for line in lines if line.startswith("plan ")] == PHASES
    assert all("[skip]" in line for line in lines if line.startswith("plan "))
    assert "every phase is done with these answers and bundle" in second.stdout
    assert not [line for line in lines if line.startswith("phase ")]


def test_refuses_without_yes_and_writes_nothing(work: Path, answers: Path) -> None:
    state = work / "state-unconfirmed"
    result = install(state, answers, *SKIP, *FORCE)
    assert result.returncode == 3
    assert "needs --yes" in result.stderr
    assert not (state / "inventory.json").exists() and not (state / "install-state.json").exists()


def test_check_mode_prints_the_plan_and_changes_nothing(work: Path, answers: Path, host: TestHost) -> None:
    state = work / "state-check"
    result = install(state, answers, "--check", *SKIP, *FORCE)
    assert result.returncode == 0, result.stdout[-3000:]
    assert [line.split()[1] for line in result.stdout.splitlines() if line.startswith("plan ")] == PHASES
    assert "check mode: nothing changed" in result.stdout
    assert not (state / "install-state.json").exists()
    # Nothing `health` could take for an install: only the logs, the check's Ansible log among them.
    assert sorted(path.name for path in state.iterdir()) == ["logs"], sorted(state.iterdir())
    assert (state / "logs" / "install-check.log").read_text().count("===== phase ") >= 2 * len(PHASES)
    assert "throw-away copy of the state directory" in result.stdout


def test_unknown_forced_check_is_an_input_error(work: Path, answers: Path) -> None:
    result = install(work / "state-typo", answers, "--yes", "--force-preflight", "cpus", *SKIP)
    assert result.returncode == 3
    assert "--force-preflight names no check called 'cpus'" in result.stderr
    assert "did you mean `cpu`" in result.stderr


def _run_until(state: Path, answers: Path, marker: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "greenzone", "install", "--answers", str(answers), "--yes", *SKIP, *FORCE],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_env(state),
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 300
    for line in process.stdout:
        if marker in line:
            return process
        assert time.monotonic() < deadline, "the marker never came"
    raise AssertionError(f"the install ended before {marker!r}: rc {process.wait()}")


def _state(state: Path) -> dict[str, str]:
    document = json.loads((state / "install-state.json").read_text())
    return {name: record["status"] for name, record in document["phases"].items()}


def test_killed_install_resumes_where_it_stopped(work: Path, answers: Path, host: TestHost) -> None:
    """SIGKILL to the whole process group (greenzone and ansible) is a power cut: the state file is whole,
    the interrupted phase is left `running`, and the next run skips what was done and finishes."""
    state = work / "state-killed"
    process = _run_until(state, answers, "phase  images [running]")
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    assert _state(state) == {"preflight": "done", "k3s": "done", "images": "running"}

    again = install(state, answers, "--yes", *SKIP, *FORCE)
    assert again.returncode == 0, again.stdout[-3000:]
    plan = {line.split()[1]: line for line in again.stdout.splitlines() if line.startswith("plan ")}
    assert "[skip]" in plan["preflight"] and "[skip]" in plan["k3s"] and "[todo]" in plan["images"]
    assert set(_state(state).values()) == {"done"}


def test_sigterm_cancels_cleanly_and_resumes(work: Path, answers: Path) -> None:
    """SIGTERM (systemd stopping a unit, an operator's kill) cancels the running phase at its next task."""
    state = work / "state-canceled"
    process = _run_until(state, answers, "phase  k3s [running]")
    process.send_signal(signal.SIGTERM)
    assert process.stdout is not None
    rest = process.stdout.read()
    assert process.wait(timeout=120) == 130, rest
    assert "canceling: stopping at the next task" in rest and "canceled after" in rest
    assert left_running(state) == []
    assert _state(state)["k3s"] == "failed"
    assert yaml.safe_load((state / "install-state.json").read_text())["phases"]["k3s"]["message"] == "canceled"

    again = install(state, answers, "--yes", *SKIP, *FORCE)
    assert again.returncode == 0, again.stdout[-3000:]
    assert set(_state(state).values()) == {"done"}

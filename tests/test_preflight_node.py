"""A node's preflight is judged once, by the Python rules: the role's action plugin runs the shared
probe on the node and the rules judge what it saw, so a node and `greenzone preflight` on that
machine must say the same thing. Proven on this machine through Ansible's own ad-hoc runner (local
connection), beside `greenzone preflight --json`; the probe itself also runs as a bare script under
the node's Python with nothing but the standard library.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from greenzone.deploy.actions import node_preflight, probe_request, probe_source
from greenzone.preflight import probe
from greenzone.preflight.facts_model import K3S_DATA_DIR
from greenzone.preflight.node import node_checks, nvml_from_smi
from greenzone.preflight.rules import required_ports
from greenzone.resources import playbooks_dir
from greenzone.results import Status
from tests.support.cli import Run

PORTS = sorted(required_ports(None))


def _action(forced: list[str] | None = None) -> dict[str, Any]:
    """The role's task on `localhost` through `ansible` (ad hoc): its result as Ansible prints it."""
    args = f"ports={','.join(map(str, PORTS))} k3s_data_dir={K3S_DATA_DIR} gpu=false"
    if forced:
        args += f" forced={','.join(forced)}"
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}", "NO_COLOR": "1"}
    done = subprocess.run(
        [
            "ansible", "all", "-i", "localhost,", "-c", "local", "-m", "greenzone_node_preflight", "-a", args,
            "-e", f"ansible_python_interpreter={sys.executable}",
        ],
        cwd=playbooks_dir(),
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    head = done.stdout.find("localhost | ")
    assert head >= 0, done.stdout + done.stderr
    start = done.stdout.index(" => ", head) + len(" => ")
    result: dict[str, Any] = json.JSONDecoder().raw_decode(done.stdout, start)[0]
    result["failed"] = done.stdout[head:start].startswith("localhost | FAILED!") and done.returncode != 0
    return result


@pytest.mark.slow
def test_a_node_and_greenzone_preflight_on_that_machine_give_the_same_verdicts(run_cli: Run) -> None:
    node = {check["name"]: check for check in _action()["checks"]}
    local = {
        check["name"]: check
        for check in json.loads(run_cli("preflight", "--json").stdout)["checks"]
        if check["group"] == "host"
    }
    shared = set(node) & set(local)
    # Every host check a node gets, except the state directory's disk (the installing machine's).
    assert set(local) - shared <= {"disk state dir"}
    assert shared >= {
        "cpu",
        "memory",
        "swap",
        "os",
        "cgroup",
        "disk k3s data dir",
        "time sync",
        "port 6443",
        "default route",
    }
    for name in shared:
        assert node[name]["status"] == local[name]["status"], name
        if not name.startswith("disk"):  # free space moves between the two reads
            assert node[name]["detail"] == local[name]["detail"], name
            assert node[name]["remedy"] == local[name]["remedy"], name


@pytest.mark.slow
def test_the_node_task_fails_naming_each_blocking_check_and_honours_forced_names() -> None:
    result = _action()
    blocking = [check["name"] for check in result["checks"] if check["status"] == "fail"]
    if not blocking:
        pytest.skip("nothing fails preflight on this machine (it is big enough for an appliance)")
    assert result["failed"] is True
    for name in blocking:
        assert f"{name}: " in result["msg"] and "(fix: " in result["msg"]
    forced = _action(blocking)
    assert forced["failed"] is False, forced["msg"]
    assert "overridden by --force-preflight" in json.dumps(forced["checks"])


def test_the_probe_is_standard_library_only_and_runs_as_a_bare_script(tmp_path: Path) -> None:
    """On a node greenzone is not installed: the probe's source runs there under `python3 -c`."""
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(ast.parse(probe_source()))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported
    request = probe_request([22, 65000], str(tmp_path / "k3s"), gpu=True)
    done = subprocess.run(
        [sys.executable, "-I", "-S", "-c", probe_source(), request],
        cwd=tmp_path,
        env={"PATH": "/nonexistent"},  # no nvidia-smi here, as on a node without a driver
        capture_output=True,
        text=True,
        check=True,
    )
    raw = json.loads(done.stdout)
    assert raw["nvidia_smi"] == {"state": "no_library", "detail": "nvidia-smi is not installed"}
    assert raw["disks"][0]["measured_at"] == str(tmp_path)
    assert raw["cpu_cores"] == os.cpu_count()
    checks = {check.name: check for check in node_checks(raw)}
    assert (
        checks["nvidia driver"].status is Status.FAIL
        and "nvidia-smi is not installed" in checks["nvidia driver"].detail
    )
    assert checks["port 65000"].status is Status.PASS


def test_nvidia_smi_rows_become_the_facts_the_gpu_rules_judge() -> None:
    rows = [["0", "NVIDIA H100 80GB HBM3", "GPU-1", "00000000:17:00.0", "81559", "1", "550.54.15"]]
    nvml = nvml_from_smi({"state": "ok", "gpus": rows})
    assert nvml.driver_version == "550.54.15" and nvml.gpus[0].memory_total == 81559 * 2**20
    too_old = {"state": "ok", "gpus": [[*rows[0][:6], "470.82.01"]]}
    checks = {check.name: check for check in node_checks({**probe.collect(Path("/"), [], []), "nvidia_smi": too_old})}
    assert checks["nvidia driver"].status is Status.FAIL and "470.82.01" in checks["nvidia driver"].detail
    assert checks["gpus"].status is Status.PASS


def test_an_unreadable_probe_is_a_sentence_with_a_fix() -> None:
    outcome = node_preflight("gz-2", 127, "", "/bin/sh: 1: /usr/bin/python3: not found", forced=[])
    assert outcome.failed and "gz-2" in outcome.message and "has python3 (3.7 or newer)" in outcome.message
    assert "not found" in outcome.message

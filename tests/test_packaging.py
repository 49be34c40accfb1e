"""What ships: the wheel built from this checkout, installed (not editable) into a fresh venv outside
the checkout and run from there, as a site runs it from the bundle's wheels.

The fresh venv gets greenzone from the wheel only. Its dependencies are borrowed from the project's
venv through a `.pth` line (no package index is reachable in CI), and the console scripts of
ansible-core that the runner calls are written with the fresh venv's Python, as pip would have
written them; so every module greenzone loads, and every playbook file Ansible reads, comes from the
installed wheel. A test also proves that the checkout is nowhere on the path it runs with.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenzone.resources import playbooks_dir
from tests.support.deploy import answers_text, make_bundle, ssh_node
from tests.support.paths import REPO
from tests.support.terminal import terminal, wait_for_exit
from tests.support.testhost import TestHost, missing_tools, running_host, ssh_key

pytestmark = pytest.mark.slow

# Build inputs only: the rest of the checkout (venv, tools, caches) has no business in a wheel.
_NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "tools", ".vagrant", "build", "*.egg-info", "__pycache__")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the checkout, so the build leaves nothing behind in it."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=_NOT_SOURCES)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(work / "dist"),
            ".",
        ],
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    (found,) = (work / "dist").glob("greenzone-*.whl")
    return found


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("site") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    purelib = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    # The dependencies, borrowed (see the module docstring); appended, so the wheel's greenzone wins.
    (purelib / "zz-borrowed-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    for script, module in (("ansible-playbook", "ansible.cli.playbook"), ("ansible", "ansible.cli.adhoc")):
        path = root / "bin" / script
        path.write_text(f"#!{python}\nimport sys\nfrom {module} import main\nsys.exit(main())\n")
        path.chmod(0o755)
    return root


def _run(venv: Path, *args: str, cwd: Path, state: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": f"{venv / 'bin'}{os.pathsep}/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "GREENZONE_STATE_DIR": str(state),
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }
    return subprocess.run(
        [str(venv / "bin" / "greenzone"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def test_the_wheel_carries_every_file_read_at_run_time(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    shipped = {
        f"greenzone/playbooks/{path.relative_to(playbooks_dir()).as_posix()}"
        for path in playbooks_dir().rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }
    assert "greenzone/playbooks/roles/preflight/tasks/main.yml" in shipped
    assert shipped <= names, sorted(shipped - names)
    for data in (
        "greenzone/tui/app.tcss",
        "greenzone/schemas/answers.schema.json",
        "greenzone/schemas/results.schema.json",
        "greenzone/schemas/bundle-lock.schema.json",
        "greenzone/py.typed",
        "greenzone/playbooks/action_plugins/greenzone_node_preflight.py",
        "greenzone/preflight/probe.py",
    ):
        assert data in names, data
    assert not [name for name in names if name.endswith(".pyc") or name.startswith("tests/")]


def test_installed_outside_the_checkout_it_runs_from_its_own_files(venv: Path, tmp_path: Path) -> None:
    where = _run(venv, "--version", cwd=tmp_path, state=tmp_path / "state")
    assert where.returncode == 0 and where.stdout.startswith("greenzone "), where.stderr
    found = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import json, greenzone, sys; from greenzone.resources import playbooks_dir; "
            "print(json.dumps([greenzone.__file__, str(playbooks_dir()), sys.path, sorted(sys.modules)]))",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
    )
    module, playbooks, path, modules = json.loads(found.stdout)
    assert Path(module).is_relative_to(venv) and Path(playbooks).is_relative_to(venv)
    # Only the borrowed dependencies come from the checkout's venv; its editable hook stays off.
    from_checkout = {entry for entry in path if entry and Path(entry).resolve().is_relative_to(REPO)}
    assert from_checkout <= {sysconfig.get_paths()["purelib"]}
    assert not [name for name in modules if name.startswith("__editable__")]
    example = _run(venv, "answers", "example", cwd=tmp_path, state=tmp_path / "state")
    assert example.returncode == 0 and "appliance:" in example.stdout


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestHost]:
    if missing_tools():
        pytest.skip(str(missing_tools()))
    work = tmp_path_factory.mktemp("wheel-host")
    with running_host(work / "root", ssh_key(work)) as running:
        yield running


def test_installed_wheel_runs_a_check_mode_install_over_ssh(venv: Path, host: TestHost, tmp_path: Path) -> None:
    """The unattended install from the wheel: its playbooks, its action plugin (the node's preflight
    judged by the installed rules) and its modules, against the SSH test host, in check mode."""
    bundle = make_bundle(tmp_path / "bundle")  # signed, its public key beside it
    answers = tmp_path / "site.yaml"
    answers.write_text(answers_text(bundle, [ssh_node(host.port, host.key, name="gz-1")]))
    result = _run(
        venv,
        "install", "--answers", str(answers), "--yes", "--check", "--output", "json",
        "--force-preflight", "cpu,memory,disk k3s data dir,os", "--skip-tags", "cluster", "--skip-tags", "gpu",
        cwd=tmp_path,
        state=tmp_path / "state",
    )  # fmt: skip
    events = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    finished = [event["name"] for event in events if event["event"] == "phase" and event["status"] == "successful"]
    assert finished[:3] == ["preflight", "k3s", "images"] and "guardrails" in finished
    assert events[-1]["event"] == "result" and events[-1]["data"]["check"] is True
    assert not (host.root / "usr/local/bin/k3s").exists()  # check mode changed nothing on the node
    log = (tmp_path / "state" / "logs" / "install-check.log").read_text()  # all a check run keeps
    assert "TASK [preflight : Check this node with the installer's preflight rules]" in log


def test_installed_wheel_paints_the_wizard_in_a_terminal(venv: Path, tmp_path: Path) -> None:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed (.ci/setup installs it)")
    exit_file = tmp_path / "exit"
    env = {"GREENZONE_STATE_DIR": str(tmp_path / "state"), "PATH": f"{venv / 'bin'}:/usr/bin:/bin"}
    with terminal([str(venv / "bin" / "greenzone"), "install"], cwd=tmp_path, env=env, exit_file=exit_file) as term:
        shown = term.wait_for("Bundle directory", timeout=60)
        assert "Greenzone installer" in shown
        term.keys("C-q")
        term.wait_for("Quit the installer?")
        term.keys("y")  # the dialog's focus starts on No: quitting is never one stray Enter away
        assert wait_for_exit(exit_file) == "130"

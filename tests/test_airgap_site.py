"""The air gap, proven (issue 19): a bundle made by `greenzone bundle build` carries the Python
runtime, every wheel and the bootstrap, and the whole site side runs from it inside `unshare --net`,
a network namespace with nothing but loopback, where any step that reached for the network (a pip
that wants an index, a lookup of an external host) would fail.

What is real: `bundle build` itself, the wheels (downloaded from the package index at build time
with the hashes of airgap/requirements.txt), the signature, the bootstrap script, the venv and the
installed greenzone, Ansible over SSH to a Debian test host started inside the same namespace.
What stands in: the runtime archive is Debian's own CPython 3.11 laid out as python-build-standalone's
`install_only` build (tests/support/airgap.py); the real one (airgap/bundle.lock.yaml) cannot be
downloaded here. The cluster and GPU tasks are skipped as in every playbook test: no kernel here runs
k3s and there is no GPU.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from greenzone.bundle.manifest import read_manifest
from greenzone.bundle.seal import seal
from greenzone.bundle.sign import keygen, load_private_key, sign_bytes
from tests.support.airgap import missing_runtime, runtime_archive, serving, site_lock
from tests.support.deploy import make_bundle, sign_bundle
from tests.support.faults import group_members
from tests.support.paths import REPO
from tests.support.testhost import missing_tools, root_tarball

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools())),
    pytest.mark.skipif(missing_runtime() is not None, reason=str(missing_runtime())),
]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`greenzone bundle build` of the runtime and the wheels, on this (connected) machine."""
    root = tmp_path_factory.mktemp("airgap-build")
    served = root / "upstream"
    served.mkdir()
    runtime = runtime_archive(served / "cpython-standin-install_only.tar.gz")
    with serving(served) as url:
        lock = site_lock(root / "lock" / "bundle.lock.yaml", runtime, url)
        done = subprocess.run(
            [sys.executable, "-m", "greenzone", "bundle", "build", "--lock", str(lock), "--out", str(root / "built")],
            capture_output=True, text=True, cwd=REPO, timeout=600, check=False,
            env={**os.environ, "GREENZONE_STATE_DIR": str(root / "state")},
        )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return root / "built"


def test_a_built_bundle_holds_the_runtime_every_pinned_wheel_and_the_bootstrap(built: Path) -> None:
    manifest = read_manifest(built)
    kinds = {component.name: component.kind for component in manifest.components}
    assert kinds["python"] == "runtime" and kinds["wheels"] == "wheel" and kinds["bootstrap"] == "script"
    assert os.access(built / "install.sh", os.X_OK)
    pinned = {
        line.split("==")[0].replace("-", "_").lower()
        for line in (REPO / "airgap" / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    wheels = {path.name.split("-")[0].lower() for path in (built / "wheels").glob("*.whl")}
    assert pinned <= wheels, pinned - wheels
    assert "greenzone" in wheels and "pip" in wheels
    listed = {item.path for item in manifest.files}
    assert {"install.sh", "wheels/requirements.txt"} <= listed


def test_the_site_side_runs_from_the_drive_alone_in_a_namespace_without_network(
    built: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    root_tarball()  # the test host's root is built (with the network) before the namespace
    drive = tmp_path_factory.mktemp("drive")
    bundle = make_bundle(drive / "greenzone-bundle", site_from=built)
    work = tmp_path_factory.mktemp("site")
    arguments = work / "args.json"
    arguments.write_text(json.dumps({"work": str(work), "bundle": str(bundle)}))
    done = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-m", "tests.support.airgap_site", str(arguments)],
        capture_output=True, text=True, cwd=REPO, timeout=1500, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    assert all(outcome.startswith("refused") for outcome in result["network"].values()), result["network"]
    steps = {step["name"]: step for step in result["steps"]}
    for name in ("bootstrap", "bootstrap again", "bundle verify", "install --check", "deploy host phases"):
        assert name in steps, f"{name} did not run: {result['steps']}"
        assert steps[name]["returncode"] == 0, f"{name}:\n{steps[name]['tail']}"
    assert "(kept)" in steps["bootstrap again"]["tail"] and "installed into" not in steps["bootstrap again"]["tail"]
    assert "check mode: nothing changed" in steps["install --check"]["tail"]
    # greenzone ran on the bundle's Python, unpacked under the prefix, not on any Python of this machine.
    assert result["python"].startswith(str(work / "opt" / "greenzone" / "runtimes")), result["python"]
    print(json.dumps({name: step["seconds"] for name, step in steps.items()}))


@pytest.fixture
def drive(built: Path, tmp_path: Path) -> Path:
    """A signed copy of the built bundle, the vendor key beside it, as on the USB drive."""
    bundle = tmp_path / "greenzone-bundle"
    shutil.copytree(built, bundle)
    sign_bundle(bundle)
    return bundle


def _bootstrap(drive: Path, prefix: Path, *extra: str, path: str = "/usr/bin:/bin") -> subprocess.CompletedProcess[str]:
    env = {"PATH": path, "HOME": "/root", "TMPDIR": "/tmp"}
    return subprocess.run(
        ["sh", str(drive / "install.sh"), "--prefix", str(prefix), "--bin-dir", str(prefix.parent / "bin"),
         "--no-start", *extra],
        capture_output=True, text=True, env=env, timeout=300, check=False,
    )  # fmt: skip


def _refused(done: subprocess.CompletedProcess[str], code: int, *words: str) -> None:
    assert done.returncode == code, done.stderr
    assert "error:" in done.stderr and "fix:" in done.stderr, done.stderr
    for word in words:
        assert word in done.stderr, done.stderr


def test_the_bootstrap_refuses_a_missing_key_a_foreign_key_and_damaged_bytes_before_running_anything(
    drive: Path, tmp_path: Path
) -> None:
    prefix = tmp_path / "opt" / "greenzone"
    _refused(_bootstrap(drive, prefix, "--key", str(tmp_path / "absent.pub")), 3, "absent.pub")
    foreign = tmp_path / "foreign.key"
    keygen(foreign, tmp_path / "foreign.pub")
    _refused(_bootstrap(drive, prefix, "--key", str(tmp_path / "foreign.pub")), 2, "does not match the key")
    wheel = next((drive / "wheels").glob("pyyaml-*.whl"))
    original = wheel.read_bytes()
    wheel.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    try:
        _refused(_bootstrap(drive, prefix), 2, wheel.name)
    finally:
        wheel.write_bytes(original)
    assert not prefix.exists(), "something was unpacked from a bundle that did not verify"


def test_the_bootstrap_names_a_wrong_architecture_and_a_full_disk(drive: Path, tmp_path: Path) -> None:
    fake = tmp_path / "fakebin"
    fake.mkdir()
    (fake / "uname").write_text('#!/bin/sh\n[ "$1" = -m ] && echo aarch64 || exec /usr/bin/uname "$@"\n')
    (fake / "uname").chmod(0o755)
    _refused(_bootstrap(drive, tmp_path / "opt", path=f"{fake}:/usr/bin:/bin"), 4, "another architecture", "aarch64")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], check=True)
    try:
        _refused(_bootstrap(drive, small / "opt"), 4, "not enough free space")
    finally:
        subprocess.run(["umount", str(small)], check=True)


@pytest.mark.parametrize("how", ["SIGTERM to the script", "Ctrl-C to the whole group"])
def test_an_interrupted_bootstrap_leaves_nothing_half_made_and_the_next_run_finishes(
    drive: Path, tmp_path: Path, how: str
) -> None:
    prefix = tmp_path / "opt" / "greenzone"
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path)}
    command = ["sh", str(drive / "install.sh"), "--prefix", str(prefix), "--bin-dir", str(prefix.parent / "bin"),
               "--no-start"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        # Signalled while the environment is half made: its directory exists, its marker does not.
        deadline = time.monotonic() + 120
        while not list((prefix / "venvs").glob("*/bin")) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert process.poll() is None, "the bootstrap ended before its environment was started"
        if how.startswith("SIGTERM"):
            process.send_signal(signal.SIGTERM)
        else:
            os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
        # A grandchild the script's cleanup signalled may take a moment to die once the script is gone.
        settle = time.monotonic() + 2
        while (survivors := group_members(process.pid)) and time.monotonic() < settle:
            time.sleep(0.05)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130 and "interrupted" in err, err
    assert survivors == [], [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ") for pid in survivors]
    assert [path for path in (prefix / "venvs").iterdir() if not (path / ".complete").exists()] == []
    assert list((prefix / "runtimes").glob(".*.partial")) == [] and not (prefix / ".bootstrap.lock").exists()
    assert list(tmp_path.glob("greenzone-bootstrap.*")) == [], "the private copies were left behind"
    again = _bootstrap(drive, prefix)
    assert again.returncode == 0, again.stderr
    assert subprocess.run([str(prefix.parent / "bin" / "greenzone"), "--version"], capture_output=True).returncode == 0


def test_the_bootstrap_installs_only_what_the_manifest_lists_once(drive: Path, tmp_path: Path) -> None:
    own = next((drive / "wheels").glob("greenzone-*.whl"))
    extra = drive / "wheels" / "extra-1.0-py3-none-any.whl"
    shutil.copyfile(own, extra)
    _refused(_bootstrap(drive, tmp_path / "opt"), 2, "extra-1.0-py3-none-any.whl", "not in the signed manifest")
    extra.unlink()
    older = drive / "wheels" / "greenzone-0.0.1-py3-none-any.whl"
    shutil.copyfile(own, older)
    seal(drive)  # listed and signed, as an --out reused across builds once left it
    private = load_private_key(drive.with_name(drive.name + ".key"))
    (drive / "bundle.yaml.sig").write_bytes(sign_bytes(private, (drive / "bundle.yaml").read_bytes()))
    _refused(_bootstrap(drive, tmp_path / "opt"), 2, "2 files matching wheels/greenzone-*.whl")
    assert not (tmp_path / "opt").exists()


def test_a_pinned_key_fingerprint_must_match(drive: Path, tmp_path: Path) -> None:
    wrong = "0" * 64
    _refused(_bootstrap(drive, tmp_path / "opt", "--key-sha256", wrong), 2, "fingerprint", wrong)
    keygen_output = subprocess.run(
        [sys.executable, "-m", "greenzone", "bundle", "keygen", "--out", str(tmp_path / "k.key")],
        capture_output=True, text=True, check=True, env={**os.environ, "GREENZONE_STATE_DIR": str(tmp_path / "s")},
    ).stdout  # fmt: skip
    assert "sha256 " in keygen_output  # what the vendor tells sites, out of band

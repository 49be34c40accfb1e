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
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from greenzone.bundle.manifest import read_manifest
from tests.support.airgap import missing_runtime, runtime_archive, serving, site_lock
from tests.support.deploy import make_bundle
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

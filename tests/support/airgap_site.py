"""The site side of an install, run inside a network namespace that has only loopback:
`unshare --net -- python -m tests.support.airgap_site ARGS.json` (tests/test_airgap_site.py).

Everything after the proof that there is no network uses only what is on the drive: the bootstrap
unpacks the bundle's Python and wheels, and the `greenzone` it installs (never this checkout's)
verifies the bundle, predicts the install and installs the host-level phases over SSH to a test host
started inside the same namespace. Prints one JSON object: each step's exit code, seconds and tail.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.deploy import answers_text, ssh_node
from tests.support.testhost import running_host, ssh_key

# The nodes' preflight judges this small CI machine (tests/test_install_unattended.py); no kernel
# here runs k3s and no GPU exists, so the cluster and GPU tasks are skipped.
# Inside the namespace there is only loopback, so no default route either.
FORCE = ["--force-preflight", "cpu,os,default route", "--force-preflight", "disk k3s data dir,memory"]
SKIP = ["--skip-tags", "cluster", "--skip-tags", "gpu"]


def no_network() -> dict[str, str]:
    """What reaching out does here: both must fail, or this is not an air gap."""
    outcome = {}
    try:
        socket.create_connection(("1.1.1.1", 443), timeout=3).close()
        outcome["connect 1.1.1.1:443"] = "connected"
    except OSError as error:
        outcome["connect 1.1.1.1:443"] = f"refused: {error.strerror or error}"
    try:
        socket.getaddrinfo("pypi.org", 443)
        outcome["resolve pypi.org"] = "resolved"
    except OSError as error:
        outcome["resolve pypi.org"] = f"refused: {error}"
    return outcome


def step(name: str, command: list[str], env: dict[str, str], steps: list[dict[str, Any]]) -> int:
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, timeout=900)
    steps.append(
        {
            "name": name,
            "returncode": done.returncode,
            "seconds": round(time.monotonic() - started, 2),
            "tail": (done.stdout + done.stderr)[-3000:],
        }
    )
    return done.returncode


def main() -> None:
    args = json.loads(Path(sys.argv[1]).read_text())
    work, bundle = Path(args["work"]), Path(args["bundle"])
    key = bundle.with_name(bundle.name + ".pub")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    result: dict[str, Any] = {"network": no_network(), "steps": []}
    steps: list[dict[str, Any]] = result["steps"]
    # A site's environment: no checkout, no virtualenv, no proxy settings; only the system's tools.
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "HOME": str(work / "home"), "LANG": "C.UTF-8",
           "TMPDIR": str(work / "tmp"), "GREENZONE_STATE_DIR": str(work / "state")}  # fmt: skip
    for directory in ("home", "tmp"):
        (work / directory).mkdir(parents=True, exist_ok=True)
    prefix, bin_dir = work / "opt" / "greenzone", work / "bin"
    bootstrap = ["sh", str(bundle / "install.sh"), "--prefix", str(prefix), "--bin-dir", str(bin_dir), "--no-start"]
    greenzone = str(bin_dir / "greenzone")
    if step("bootstrap", bootstrap, env, steps) == 0:
        step("bootstrap again", bootstrap, env, steps)
        step("bundle verify", [greenzone, "bundle", "verify", str(bundle), "--key", str(key)], env, steps)
        with running_host(work / "host", ssh_key(work)) as host:
            answers = work / "site.yaml"
            answers.write_text(answers_text(bundle, [ssh_node(host.port, host.key, name="gz-1")]))
            install = [greenzone, "install", "--answers", str(answers), "--no-tui", *SKIP, *FORCE]
            step("install --check", [*install, "--check"], env, steps)
            phases = ["--phase", "preflight", "--phase", "k3s"]
            deploy = [greenzone, "deploy", "--answers", str(answers), *phases, *SKIP, *FORCE]
            step("deploy host phases", deploy, env, steps)
    result["python"] = os.path.realpath(prefix / "current" / "bin" / "python")
    print(json.dumps(result))


if __name__ == "__main__":
    main()

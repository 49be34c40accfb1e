"""Benchmark: `greenzone support-bundle` against the test appliance with the API up (the kube API
stand-in serving pods, events, workloads and container logs; tests/support/support_site.py) and with
the API and registry hung (they accept connections and never answer), its archive's size, and
`support-bundle analyze` on it; beside them, `tar czf` of the same state directory (what an
administrator would otherwise carry out, unredacted and without the cluster). Prints figures;
asserts nothing.

    .venv/bin/python bench/support_bundle.py [--runs 3] [--budget 20]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.support.health_standins import closed_port, kube_api, serve, silent_port  # noqa: E402
from tests.support.support_site import api_objects, site_state  # noqa: E402

GREENZONE = [sys.executable, "-m", "greenzone"]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "installer"), "FAKE_NVML_CONFIG": "", "NO_COLOR": "1"}


def _timed(command: list[str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=REPO, check=False)
    return time.monotonic() - started, done


def _collect(state: Path, out: Path, budget: float, api_up: bool, registry: str) -> tuple[float, float]:
    command = [*GREENZONE, "--state-dir", str(state), "support-bundle", "--out", str(out), "--budget", str(budget),
               "--endpoint", f"registry={registry}", "--endpoint", f"inference={closed_port()}", "--json"]  # fmt: skip
    wall, done = _timed(command)
    inside = float(json.loads(done.stdout)["data"]["index"]["seconds"])
    return wall, inside


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--budget", type=float, default=20.0)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        figures: dict[str, list[float]] = {}
        with serve(kube_api(api_objects())) as api:
            state = site_state(root / "up", api)
            for run in range(options.runs):
                out = root / f"up-{run}.tar.gz"
                wall, inside = _collect(state, out, options.budget, True, closed_port())
                figures.setdefault("API up: wall s", []).append(wall)
                figures.setdefault("API up: inside s", []).append(inside)
                figures.setdefault("archive KiB", []).append(out.stat().st_size / 1024)
                wall, _ = _timed([*GREENZONE, "support-bundle", "analyze", str(out), "--json"])
                figures.setdefault("analyze: wall s", []).append(wall)
                tar = root / f"state-{run}.tar.gz"
                wall, _ = _timed(["tar", "czf", str(tar), "-C", str(state.parent), state.name])
                figures.setdefault("tar czf state dir: wall s", []).append(wall)
                figures.setdefault("tar czf state dir: KiB", []).append(tar.stat().st_size / 1024)
        with silent_port() as api, silent_port() as registry:
            state = site_state(root / "hung", api)
            for run in range(options.runs):
                wall, inside = _collect(state, root / f"hung-{run}.tar.gz", options.budget, False, registry)
                figures.setdefault(f"API and registry hung: wall s (budget {options.budget:g})", []).append(wall)
                figures.setdefault(f"API and registry hung: inside s (budget {options.budget:g})", []).append(inside)
    for name, values in figures.items():
        print(f"{name:55} median {statistics.median(values):8.2f}  (runs: {', '.join(f'{v:.2f}' for v in values)})")


if __name__ == "__main__":
    main()

"""Benchmark: a full `greenzone health` run with every layer up and with every layer down, next to
`kubectl get --raw /api/v1/nodes` (what an operator types first) against the same API, both ways.

Up: the fake NVML driver (built here with gcc), the kube API stand-in with a healthy appliance, a real
docker-registry behind Harbor's API stand-in holding the bundle's images, the engine stand-in
(tests/support/health_standins.py says what each stands in for). Down: no driver, an API, a registry and an
engine that accept connections and never answer. Prints figures; asserts nothing.

    .venv/bin/python bench/health_run.py [--runs 3]
"""

from __future__ import annotations

import argparse
import contextlib
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

from tests.support import health_cluster as hc  # noqa: E402
from tests.support.health import ANSWERS  # noqa: E402
from tests.support.health_standins import HARBOR_HEALTHY, Engine, harbor_front, kube_api, serve, silent_port  # noqa: E402
from tests.support.registry import running_registry  # noqa: E402

from greenzone.bundle.oci import Layout, add_image  # noqa: E402
from greenzone.bundle.registry import Registry, push_layout  # noqa: E402
from greenzone.refs import mirror_repository  # noqa: E402

KUBECTL = REPO / "tools/bin/kubectl"
KUBECTL_CAP = 30.0


def kubeconfig(path: Path, server: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gz\n"
        f"clusters: [{{name: gz, cluster: {{server: '{server}'}}}}]\n"
        "users: [{name: gz, user: {token: bench}}]\ncontexts: [{name: gz, context: {cluster: gz, user: gz}}]\n"
    )


def timed(command: list[str], env: dict[str, str], cap: float | None = None) -> tuple[float, int | None, str]:
    started = time.perf_counter()
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=cap, check=False)
    except subprocess.TimeoutExpired:
        return time.perf_counter() - started, None, ""
    return time.perf_counter() - started, done.returncode, done.stdout


def health(work: Path, endpoints: list[str], env: dict[str, str]) -> tuple[float, int | None, str]:
    args = [sys.executable, "-m", "greenzone", "health", "--answers", str(work / "answers.yaml"), "--json"]
    for endpoint in endpoints:
        args += ["--endpoint", endpoint]
    return timed(args, env)


def report(name: str, runs: list[tuple[float, int | None, str]]) -> None:
    seconds = statistics.median(run[0] for run in runs)
    code = runs[-1][1]
    outcome = f"exit {code}" if code is not None else f"still waiting after {KUBECTL_CAP:.0f} s (killed)"
    extra = ""
    inside = ""
    with contextlib.suppress(ValueError):
        counts = json.loads(runs[-1][2]).get("counts", {})
        extra = f"; {counts['pass']} pass, {counts['fail']} fail" if counts else ""
        # The checks themselves, apart from starting Python and importing: the report's own clock.
        checks = [json.loads(run[2]).get("data", {}) for run in runs]
        if all("seconds" in data for data in checks):
            layers = [data.get("layer_seconds", {}) for data in checks]
            each = ", ".join(
                f"{layer} {statistics.median(x.get(layer, 0) for x in layers):.2f}" for layer in layers[-1]
            )
            inside = f"\n  {'':44} {statistics.median(d['seconds'] for d in checks):6.2f} s  of it checking ({each})"
    print(f"  {name:<44} {seconds:6.2f} s  {outcome}{extra}{inside}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        work = Path(tmp)
        (work / "answers.yaml").write_text(ANSWERS)
        subprocess.run(
            ["gcc", "-shared", "-fPIC", "-O1", "-Wl,-soname,libnvidia-ml.so.1", "-o", str(work / "libnvidia-ml.so.1"),
             str(REPO / "tests/fixtures/fake_nvml/fake_nvml.c")],
            check=True,
        )  # fmt: skip
        base = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1"}
        layout = Layout(work / "images")
        layout.init()
        for ref in ("docker.io/ollama/ollama:0.6.5", "docker.io/goharbor/harbor-core:v2.13.1"):
            add_image(layout, ref, [os.urandom(20_000), ref.encode()])
        registry = stack.enter_context(running_registry(work / "registry"))
        push_layout(layout, Registry(registry), mirror_repository)
        engine = stack.enter_context(serve(Engine({"gemma3:4b", "llama3.2:3b"}).route))
        front = stack.enter_context(serve(harbor_front(registry, HARBOR_HEALTHY, {"docker.io"})))
        api = stack.enter_context(serve(kube_api(hc.api_paths(hc.appliance_cluster("gz-node-1", engine_url=engine)))))
        kubeconfig(work / "up/kubeconfig", api)
        up_env = {
            **base,
            "GREENZONE_STATE_DIR": str(work / "up"),
            "LD_LIBRARY_PATH": str(work),
            "FAKE_NVML_CONFIG": str(REPO / "tests/fixtures/fake_nvml/scenarios/h100-1x.json"),
        }
        print(f"every layer up ({runs} runs, median):")
        report(
            "greenzone health (5 layers)",
            [health(work, [f"registry={front}", f"chat={engine}/"], up_env) for _ in range(runs)],
        )
        kubectl = [str(KUBECTL), "--kubeconfig", str(work / "up/kubeconfig"), "get", "--raw", "/api/v1/nodes"]
        report("kubectl get --raw /api/v1/nodes (one call)", [timed(kubectl, base) for _ in range(runs)])

        hung_api = stack.enter_context(silent_port())
        hung_registry = stack.enter_context(silent_port())
        kubeconfig(work / "down/kubeconfig", hung_api)
        down_env = {**base, "GREENZONE_STATE_DIR": str(work / "down")}
        print("every layer down (connections accepted, never answered):")
        report(
            "greenzone health (default budget 10 s)",
            [health(work, [f"registry={hung_registry}", f"chat={hung_registry}/"], down_env) for _ in range(runs)],
        )
        kubectl = [str(KUBECTL), "--kubeconfig", str(work / "down/kubeconfig"), "get", "--raw", "/api/v1/nodes"]
        report("kubectl get --raw /api/v1/nodes (defaults)", [timed(kubectl, base, KUBECTL_CAP)])
        report("  the same with --request-timeout=10s", [timed([*kubectl, "--request-timeout=10s"], base, KUBECTL_CAP)])


if __name__ == "__main__":
    main()

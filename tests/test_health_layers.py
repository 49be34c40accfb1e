"""`greenzone health` layer by layer against real parts where they can run here.

- host: the real pynvml against the fake `libnvidia-ml.so.1` (built from C, loaded through
  LD_LIBRARY_PATH in a subprocess), the real /dev/kmsg and disks of this machine;
- registry: a real `docker-registry` on loopback holding images pushed by our client, behind a
  stand-in for Harbor's core API (tests/support/health_standins.py), up, missing an image, down, hung
  (SIGSTOP) and slow;
- inference: a small HTTP server speaking the Ollama and OpenAI-compatible APIs, standing in for the
  engine (which needs a GPU), including one that never answers;
- cluster: the real kubernetes client against a stand-in API server serving objects built with the
  client's own model classes.
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

from tests.support import health_cluster as hc
from tests.support.cli import Run
from tests.support.health import ANSWERS, PUSHED, answers_file, bundle_listing, checks, write_kubeconfig
from tests.support.health_standins import (
    HARBOR_HEALTHY,
    Engine,
    closed_port,
    harbor_front,
    kube_api,
    serve,
    silent_port,
)
from tests.support.paths import SCENARIOS


def health(
    run_cli: Run, tmp_path: Path, *args: str, env: dict[str, str] | None = None
) -> tuple[int, dict[str, Any], float]:
    started = time.monotonic()
    result = run_cli("health", "--answers", str(answers_file(tmp_path)), "--json", *args, env=env)
    seconds = time.monotonic() - started
    assert result.stdout, result.stderr
    return result.returncode, json.loads(result.stdout), seconds


# --- host: fake NVML through the real pynvml ----------------------------------------------------


def _nvml_env(fake_nvml_dir: Path, scenario: str) -> dict[str, str]:
    return {"LD_LIBRARY_PATH": str(fake_nvml_dir), "FAKE_NVML_CONFIG": str(SCENARIOS / f"{scenario}.json")}


def test_host_layer_healthy_gpu(run_cli: Run, tmp_path: Path, fake_nvml_dir: Path) -> None:
    code, envelope, _ = health(run_cli, tmp_path, "--layer", "host", env=_nvml_env(fake_nvml_dir, "h100-1x"))
    found = checks(envelope)
    assert found["NVML"]["status"] == "pass" and "driver 550.54.15, 1 GPU(s)" in found["NVML"]["detail"]
    for name in ("temperature", "ECC", "memory", "clocks"):
        assert found[f"GPU 0 (NVIDIA H100 80GB HBM3) {name}"]["status"] == "pass", name
    assert found["GPU 0 (NVIDIA H100 80GB HBM3) clocks"]["detail"] == "limited by idle"
    assert found["Xid errors"]["status"] in ("pass", "skip")  # this machine's own kernel log
    assert {check["group"] for check in envelope["checks"]} == {"host"}
    assert envelope["data"]["facts"]["nvml"]["gpus"][0]["clocks_event_reasons"] == 1
    assert code == {"pass": 0, "warn": 1}[envelope["status"]]  # the disks are this machine's


def test_host_layer_degraded_gpu(run_cli: Run, tmp_path: Path, fake_nvml_dir: Path) -> None:
    """degraded-1x: 91 °C, 99 % memory, HW+SW thermal slowdown, 2 uncorrectable ECC errors, a row to remap."""
    code, envelope, _ = health(run_cli, tmp_path, "--layer", "host", env=_nvml_env(fake_nvml_dir, "degraded-1x"))
    found = checks(envelope)
    gpu = "GPU 0 (NVIDIA H100 80GB HBM3)"
    assert code == 2
    assert found[f"{gpu} temperature"]["status"] == "fail"
    assert found[f"{gpu} ECC"]["status"] == "fail"
    assert found[f"{gpu} clocks"]["status"] == "fail"
    assert "hardware thermal slowdown, software thermal slowdown" in found[f"{gpu} clocks"]["detail"]
    assert found[f"{gpu} memory"]["status"] == "warn"
    assert found[f"{gpu} row remapping"]["status"] == "warn"
    assert all(check["remedy"] for check in envelope["checks"] if check["status"] in ("warn", "fail"))


@pytest.mark.parametrize(
    ("scenario", "name", "words"),
    [
        ("gpu-lost", "GPU 1 (NVIDIA H100 80GB HBM3)", "fell off the bus"),
        ("driver-not-loaded", "NVML", "kernel module is not loaded"),
    ],
)
def test_host_layer_broken_gpu(
    run_cli: Run, tmp_path: Path, fake_nvml_dir: Path, scenario: str, name: str, words: str
) -> None:
    code, envelope, _ = health(run_cli, tmp_path, "--layer", "host", env=_nvml_env(fake_nvml_dir, scenario))
    assert code == 2
    check = checks(envelope)[name]
    assert check["status"] == "fail" and words in check["detail"] and check["remedy"]


def test_operator_driver_is_loaded_from_its_container_root(tmp_path: Path, fake_nvml_dir: Path) -> None:
    """With gpu.driver: operator, NVML lives under /run/nvidia/driver; no LD_LIBRARY_PATH points there."""
    lib = tmp_path / "root/run/nvidia/driver/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"
    lib.parent.mkdir(parents=True)
    shutil.copy(fake_nvml_dir / "libnvidia-ml.so.1", lib)
    code = (
        "import sys; from pathlib import Path\n"
        "from greenzone.health.readers.host import preload_operator_driver\n"
        "from greenzone.preflight.gpu import read_nvml\n"
        "print(preload_operator_driver(Path(sys.argv[1])))\n"
        "facts = read_nvml(); print(facts.state, len(facts.gpus))\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "LD_LIBRARY_PATH"}
    env["FAKE_NVML_CONFIG"] = str(SCENARIOS / "h100-1x.json")
    out = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "root")], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.splitlines() == [str(lib), "ok 1"]


# --- registry: a real docker-registry behind Harbor's API stand-in --------------------------------


def registry_health(
    run_cli: Run, tmp_path: Path, url: str, refs: tuple[str, ...] = PUSHED, *extra: str
) -> tuple[int, dict[str, Any], float]:
    bundle = str(bundle_listing(tmp_path, refs))
    return health(run_cli, tmp_path, "--layer", "registry", "--endpoint", f"registry={url}", "--bundle", bundle, *extra)


def test_registry_up_with_every_image(run_cli: Run, tmp_path: Path, registry: str) -> None:
    with serve(harbor_front(registry, HARBOR_HEALTHY, {"docker.io"})) as front:
        code, envelope, _ = registry_health(run_cli, tmp_path, front, PUSHED)
    found = checks(envelope)
    assert code == 0, envelope
    assert found["registry API"]["status"] == "pass"
    assert found["Harbor health"]["detail"] == "healthy (7 components)"
    assert found["Harbor projects"]["detail"] == "1 present: docker.io"
    assert found["images"]["detail"] == "all 2 present by digest"


def test_registry_missing_image_and_project(run_cli: Run, tmp_path: Path, registry: str) -> None:
    refs = (*PUSHED, "ghcr.io/open-webui/open-webui:v0.6.5")
    with serve(harbor_front(registry, HARBOR_HEALTHY, {"docker.io"})) as front:
        code, envelope, _ = registry_health(run_cli, tmp_path, front, refs)
    found = checks(envelope)
    assert code == 2
    assert found["images"]["status"] == "fail" and "ghcr.io/open-webui/open-webui:v0.6.5" in found["images"]["detail"]
    assert found["Harbor projects"]["detail"] == "missing: ghcr.io"


def test_plain_registry_is_not_harbor(run_cli: Run, tmp_path: Path, registry: str) -> None:
    """Straight at docker-registry: the OCI API and the images pass, Harbor's health API is missing."""
    code, envelope, _ = registry_health(run_cli, tmp_path, registry, PUSHED)
    found = checks(envelope)
    assert found["registry API"]["status"] == "pass" and found["images"]["status"] == "pass"
    assert (
        found["Harbor health"]["status"] == "fail" and "does not serve Harbor's API" in found["Harbor health"]["detail"]
    )
    assert code == 2


def test_registry_down(run_cli: Run, tmp_path: Path) -> None:
    code, envelope, _ = health(run_cli, tmp_path, "--layer", "registry", "--endpoint", f"registry={closed_port()}")
    found = checks(envelope)
    assert code == 2 and "connection refused" in found["registry API"]["detail"]
    assert found["images"]["status"] == "skip"
    # On a terminal, a failing run ends with the next step when the remedies do not help.
    shown = run_cli("health", "--answers", str(answers_file(tmp_path)), "--layer", "registry",
                    "--endpoint", f"registry={closed_port()}")  # fmt: skip
    assert shown.returncode == 2 and "greenzone support-bundle" in shown.stdout
    last = json.loads((tmp_path / "state" / "last-health.json").read_text())
    assert last["status"] == "fail" and last["at"]  # what a support bundle carries beside a fresh run


def test_registry_hung_costs_the_budget_only(run_cli: Run, tmp_path: Path, registry: str) -> None:
    """SIGSTOP freezes the real registry: connections are accepted by the kernel, nothing answers."""
    pid = int(
        subprocess.run(
            ["pgrep", "-f", str(tmp_path / "registry" / "config.yml")], capture_output=True, text=True, check=True
        ).stdout.split()[0]
    )
    os.kill(pid, signal.SIGSTOP)
    try:
        code, envelope, seconds = registry_health(run_cli, tmp_path, registry, PUSHED, "--budget", "2")
    finally:
        os.kill(pid, signal.SIGCONT)
    found = checks(envelope)
    assert code == 2
    assert found["registry API"]["status"] == "fail" and "no answer within" in found["registry API"]["detail"]
    assert seconds < 2 + 3  # the budget, plus starting Python and the CLI
    assert envelope["data"]["seconds"] < 2.5


def test_registry_slow_is_a_warning(run_cli: Run, tmp_path: Path, registry: str) -> None:
    forward = harbor_front(registry, HARBOR_HEALTHY, {"docker.io"})

    def slow(method: str, path: str, body: Any) -> Any:
        if path == "/v2/":
            time.sleep(2.3)
        return forward(method, path, body)

    with serve(slow) as front:
        code, envelope, _ = registry_health(run_cli, tmp_path, front, PUSHED, "--budget", "8")
    found = checks(envelope)
    assert found["registry API"]["status"] == "warn" and "slower than 2 s" in found["registry API"]["detail"]
    assert found["images"]["status"] == "pass"
    assert code == 1


# --- inference: the engine stand-in ---------------------------------------------------------------


def test_inference_answers_through_both_apis(run_cli: Run, tmp_path: Path) -> None:
    engine = Engine({"gemma3:4b", "llama3.2:3b"})
    with serve(engine.route) as url, serve(lambda m, p, b: (200, b"<html>chat</html>")) as chat:
        code, envelope, _ = health(
            run_cli, tmp_path, "--layer", "inference", "--endpoint", f"inference={url}", "--endpoint", f"chat={chat}/"
        )
    found = checks(envelope)
    assert code == 0, envelope
    assert found["model gemma3:4b (Ollama API)"]["detail"].startswith("one token in")
    assert found["model gemma3:4b (OpenAI-compatible API)"]["status"] == "pass"
    assert found["model llama3.2:3b (Ollama API)"]["status"] == "pass"
    assert found["chat UI"]["status"] == "pass"
    assert sorted(engine.calls) == [
        ("/api/generate", "gemma3:4b"),
        ("/api/generate", "llama3.2:3b"),
        ("/v1/chat/completions", "gemma3:4b"),
    ]


def test_inference_missing_model(run_cli: Run, tmp_path: Path) -> None:
    with serve(Engine({"gemma3:4b"}).route) as url:
        code, envelope, _ = health(
            run_cli, tmp_path, "--layer", "inference", "--endpoint", f"inference={url}", "--endpoint", f"chat={url}/"
        )
    check = checks(envelope)["model llama3.2:3b (Ollama API)"]
    assert code == 2 and check["status"] == "fail" and "model 'llama3.2:3b' not found" in check["detail"]


def test_inference_never_answering_respects_the_budget(run_cli: Run, tmp_path: Path) -> None:
    with silent_port() as url:
        code, envelope, seconds = health(
            run_cli,
            tmp_path,
            "--layer",
            "inference",
            "--endpoint",
            f"inference={url}",
            "--endpoint",
            f"chat={url}/",
            "--budget",
            "2",
        )
    found = checks(envelope)
    assert code == 2
    assert "no answer within" in found["model gemma3:4b (Ollama API)"]["detail"]
    assert found["chat UI"]["status"] == "fail"
    assert seconds < 2 + 3 and envelope["data"]["seconds"] < 2.5


def test_vllm_models_are_found_through_their_services(run_cli: Run, tmp_path: Path) -> None:
    """vLLM serves each model from its own Service; health reads them from the API (stand-in) and asks each."""
    engine = Engine({"google/gemma-3-4b-it"})
    with serve(engine.route) as url:
        port = int(url.rsplit(":", 1)[1])
        cluster = hc.appliance_cluster("gz-node-1")
        cluster["services"] = [
            hc.service("gz-gemma", "greenzone-inference", "vllm", "127.0.0.1", port, "google/gemma-3-4b-it")
        ]
        with serve(kube_api(hc.api_paths(cluster))) as api:
            state = tmp_path / "state"
            write_kubeconfig(state, api)
            answers = answers_file(tmp_path)
            answers.write_text(
                ANSWERS.replace(
                    '{engine: ollama, models: ["gemma3:4b", "llama3.2:3b"]}',
                    '{engine: vllm, models: ["google/gemma-3-4b-it"], chat_ui: false}',
                )
            )
            result = run_cli("health", "--answers", str(answers), "--json", "--layer", "inference")
    found = checks(json.loads(result.stdout))
    assert found["model google/gemma-3-4b-it (OpenAI-compatible API)"]["status"] == "pass"
    assert engine.calls == [("/v1/completions", "google/gemma-3-4b-it")]
    assert result.returncode == 0


# --- cluster: the real kubernetes client against the API stand-in --------------------------------


def test_cluster_and_zone_through_the_real_client(run_cli: Run, tmp_path: Path) -> None:
    cluster = hc.appliance_cluster("gz-node-1")
    cluster["policies"].append(hc.open_policy("legal-dept", "0.0.0.0/0"))
    with serve(kube_api(hc.api_paths(cluster))) as api:
        write_kubeconfig(tmp_path / "state", api)
        code, envelope, _ = health(run_cli, tmp_path, "--layer", "cluster", "--layer", "green zone")
    found = checks(envelope)
    assert found["Kubernetes API"]["detail"].startswith(f"v1.34.1+k3s1 at {api}")
    assert found["nodes"]["detail"] == "1 Ready: gz-node-1"
    assert found["GPU operator"]["status"] == "pass"
    assert found["pods in harbor"]["detail"] == "2 pod(s), all ready"
    assert found["egress greenzone-inference"]["status"] == "pass"
    assert "let-me-out allows egress to 0.0.0.0/0" in found["egress legal-dept"]["detail"]
    assert code == 2


def test_cluster_without_operator_crd(run_cli: Run, tmp_path: Path) -> None:
    """The API's own 404 for an unknown resource means the operator's CRD is not installed."""
    cluster = {**hc.appliance_cluster("gz-node-1"), "clusterpolicies": None}
    with serve(kube_api(hc.api_paths(cluster))) as api:
        write_kubeconfig(tmp_path / "state", api)
        _, envelope, _ = health(run_cli, tmp_path, "--layer", "cluster")
    check = checks(envelope)["GPU operator"]
    assert check["status"] == "fail" and "not installed" in check["detail"]
    assert "cluster read" not in checks(envelope)


def test_cluster_api_hung_respects_the_budget(run_cli: Run, tmp_path: Path) -> None:
    with silent_port() as api:
        write_kubeconfig(tmp_path / "state", api)
        code, envelope, seconds = health(run_cli, tmp_path, "--layer", "cluster", "--budget", "2")
    found = checks(envelope)
    assert code == 2 and found["Kubernetes API"]["status"] == "fail"
    assert seconds < 2 + 3


def test_health_reads_what_the_install_recorded(run_cli: Run, tmp_path: Path, registry: str) -> None:
    """After an install prepared its state directory, `greenzone health` needs no --answers or --bundle."""
    from greenzone.answers.files import load_valid_answers
    from greenzone.deploy.workspace import prepare
    from greenzone.statedir import StateDir

    state = StateDir(tmp_path / "state")
    bundle = bundle_listing(tmp_path, PUSHED)
    prepare(load_valid_answers(answers_file(tmp_path)), state, source="answers.yaml", bundle=bundle)
    assert state.installed_answers.stat().st_mode & 0o777 == 0o600
    shutil.rmtree(bundle)  # the install media is gone; the recorded manifest still lists the images
    with serve(harbor_front(registry, HARBOR_HEALTHY, {"docker.io"})) as front:
        result = run_cli("health", "--json", "--layer", "registry", "--endpoint", f"registry={front}")
    found = checks(json.loads(result.stdout))
    assert found["images"]["detail"] == "all 2 present by digest"
    assert result.returncode == 0

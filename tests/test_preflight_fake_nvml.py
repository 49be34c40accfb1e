"""`greenzone preflight` end to end against a fake NVIDIA driver.

No GPU exists on CI, so the NVML boundary is faked at its lowest level: tests/fixtures/fake_nvml/
fake_nvml.c is compiled with gcc into `libnvidia-ml.so.1` and found through LD_LIBRARY_PATH. The real
pynvml loads it with ctypes and decodes its structs, so everything above the C ABI is the product's
own code. Each scenario is a JSON file naming GPUs and NVML error codes to inject.
"""

from __future__ import annotations

import ctypes.util
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.support.cli import Run
from tests.support.paths import EXAMPLES, REPO, SCENARIOS

RESULTS_SCHEMA = json.loads((REPO / "installer/greenzone/schemas/results.schema.json").read_text())
GiB = 1024**3


@pytest.fixture
def preflight(run_cli: Run, fake_nvml_dir: Path, tmp_path: Path) -> Any:
    def run(scenario: str | Path | None, *args: str) -> tuple[int, dict[str, Any]]:
        env = {}
        if scenario is not None:
            config = scenario if isinstance(scenario, Path) else SCENARIOS / f"{scenario}.json"
            env = {"LD_LIBRARY_PATH": str(fake_nvml_dir), "FAKE_NVML_CONFIG": str(config)}
        result = run_cli("preflight", "--json", *args, env=env)
        assert "Traceback" not in result.stderr, result.stderr
        envelope = json.loads(result.stdout)
        jsonschema.validate(envelope, RESULTS_SCHEMA)
        assert envelope["exit_code"] == result.returncode
        return result.returncode, envelope

    return run


def _checks(envelope: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {check["name"]: check for check in envelope["checks"]}


def _gpus(envelope: dict[str, Any]) -> list[dict[str, Any]]:
    gpus: list[dict[str, Any]] = envelope["data"]["facts"]["nvml"]["gpus"]
    return gpus


@pytest.mark.skipif(ctypes.util.find_library("nvidia-ml") is not None, reason="a real NVIDIA driver is installed here")
def test_no_driver_is_a_clear_fail(preflight: Any) -> None:
    code, envelope = preflight(None)
    driver = _checks(envelope)["nvidia driver"]
    assert code == 2 and driver["status"] == "fail"
    assert "no NVIDIA driver" in driver["detail"] and driver["remedy"]
    assert envelope["data"]["facts"]["nvml"]["state"] == "no_library"


def test_one_h100_reports_every_fact(preflight: Any) -> None:
    _, envelope = preflight("h100-1x")
    nvml = envelope["data"]["facts"]["nvml"]
    assert (nvml["state"], nvml["driver_version"], nvml["cuda_driver_version"]) == ("ok", "550.54.15", "12.4")
    (gpu,) = _gpus(envelope)
    assert gpu["name"] == "NVIDIA H100 80GB HBM3"
    assert gpu["uuid"] == "GPU-8f6a1c2e-0000-4000-8000-000000000000"
    assert gpu["pci_bus_id"] == "00000000:17:00.0"
    assert gpu["memory_total"] == 85520809984 and gpu["memory_used"] == 552075264
    assert gpu["compute_capability"] == [9, 0]
    assert (gpu["mig_current"], gpu["temperature_c"], gpu["slowdown_temperature_c"]) == (False, 34, 87)
    assert gpu["power_limit_w"] == 700.0 and gpu["ecc_current"] is True and gpu["ecc_uncorrected_volatile"] == 0
    assert gpu["remapped_rows"] == {"corrected": 0, "uncorrected": 0, "pending": False, "failed": False}
    assert gpu["persistence_mode"] is True and gpu["unsupported"] == [] and not gpu["lost"]
    checks = _checks(envelope)
    assert checks["nvidia driver"]["status"] == "pass"
    assert checks["gpus"]["detail"] == "1 GPU(s)"
    assert checks["GPU 0 (NVIDIA H100 80GB HBM3) temperature"]["status"] == "pass"
    assert checks["GPU 0 (NVIDIA H100 80GB HBM3) ECC"]["status"] == "pass"


def test_driver_reservation_is_not_memory_in_use(preflight: Any, tmp_path: Path) -> None:
    """The figures a real idle H200 with driver 580.159.04 gave through pynvml (device machine,
    2026-11-26): NVML's v1 reading said 615 MiB used where `nvidia-smi -q` said 0 MiB used and 616 MiB
    reserved. The v2 reading tells them apart; a model's fit counts the reservation as unusable."""
    _bundle(tmp_path, [("meta-llama/Llama-3.1-70B-Instruct", "vllm", 140 * GiB)])
    site = _answers(
        tmp_path,
        "inference:\n  engine: vllm\n  gpus_per_replica: 1\n  models: [meta-llama/Llama-3.1-70B-Instruct]\n",
    )
    _, envelope = preflight("h200-1x-driver580", "--answers", str(site))
    (gpu,) = _gpus(envelope)
    assert (gpu["memory_total"], gpu["memory_used"], gpu["memory_reserved"]) == (150754820096, 0, 644939776)
    assert "memory" not in gpu["unsupported"] and not gpu["errors"]
    fit = _checks(envelope)["model meta-llama/Llama-3.1-70B-Instruct"]
    assert fit["detail"] == "needs 140.0 GiB per replica; 1 × NVIDIA H200 (139.8 GiB) give 125.8 GiB usable"

    # A driver without nvmlDeviceGetMemoryInfo_v2 (13: function not found): the v1 reading, as before.
    older = json.loads((SCENARIOS / "h200-1x-driver580.json").read_text())
    older["gpus"][0]["errors"] = {"nvmlDeviceGetMemoryInfo_v2": 13}
    (tmp_path / "older.json").write_text(json.dumps(older))
    _, envelope = preflight(tmp_path / "older.json")
    (gpu,) = _gpus(envelope)
    assert (gpu["memory_used"], gpu["memory_reserved"]) == (644939776, None)
    assert "memory" not in gpu["unsupported"]


def test_eight_a100_with_mig_on_one(preflight: Any) -> None:
    _, envelope = preflight("a100-8x-mig", "--answers", str(EXAMPLES / "single-node-ollama.yaml"))
    assert len(_gpus(envelope)) == 8
    assert [gpu["mig_current"] for gpu in _gpus(envelope)] == [False, False, False, True, False, False, False, False]
    mig = _checks(envelope)["GPU 3 (NVIDIA A100-SXM4-80GB) MIG"]
    assert mig["status"] == "fail" and "mig_strategy is none" in mig["detail"] and "-mig 0" in mig["remedy"]
    assert not [c for c in envelope["checks"] if "MIG" in c["name"] and not c["name"].startswith("GPU 3")]


def test_hot_gpu_fails_with_the_numbers(preflight: Any) -> None:
    code, envelope = preflight("hot-gpu")
    check = _checks(envelope)["GPU 0 (NVIDIA H100 80GB HBM3) temperature"]
    assert code == 2 and check["status"] == "fail"
    assert check["detail"] == "95 °C (slows down at 87 °C)" and "cooling" in check["remedy"]


def test_ecc_errors_and_pending_row_remap(preflight: Any) -> None:
    _, envelope = preflight("ecc-errors")
    checks = _checks(envelope)
    ecc = checks["GPU 0 (NVIDIA H100 80GB HBM3) ECC"]
    assert ecc["status"] == "fail" and "3 uncorrectable" in ecc["detail"]
    remap = checks["GPU 0 (NVIDIA H100 80GB HBM3) row remapping"]
    assert remap["status"] == "warn" and "2 row(s)" in remap["detail"]


def test_gpu_lost_mid_query(preflight: Any) -> None:
    """GPU 1 answers name, UUID, PCI and memory, then NVML says it is lost: the run goes on."""
    code, envelope = preflight("gpu-lost")
    first, lost = _gpus(envelope)
    assert not first["lost"] and first["temperature_c"] == 34
    assert lost["lost"] and lost["memory_total"] == 85520809984 and lost["temperature_c"] is None
    check = _checks(envelope)["GPU 1 (NVIDIA H100 80GB HBM3)"]
    assert code == 2 and check["status"] == "fail" and "fell off the bus" in check["detail"]


def test_unsupported_facts_are_skipped_not_failed(preflight: Any) -> None:
    _, envelope = preflight("old-gpu-unsupported")
    (gpu,) = _gpus(envelope)
    assert set(gpu["unsupported"]) == {"mig_mode", "slowdown_temperature", "remapped_rows", "clocks_event_reasons"}
    assert gpu["errors"] == [] and gpu["mig_current"] is None and gpu["temperature_c"] == 40
    checks = _checks(envelope)
    assert checks["GPU 0 (Tesla T4) temperature"]["detail"] == "40 °C (slows down at 90 °C)"
    assert checks["GPU 0 (Tesla T4) persistence"]["status"] == "warn"


@pytest.mark.parametrize(
    ("scenario", "state", "words"),
    [
        ("version-mismatch", "version_mismatch", "reboot"),
        ("no-permission", "no_permission", "root"),
        ("driver-not-loaded", "driver_not_loaded", "modprobe nvidia"),
    ],
)
def test_each_nvml_failure_is_distinct(preflight: Any, scenario: str, state: str, words: str) -> None:
    code, envelope = preflight(scenario)
    assert envelope["data"]["facts"]["nvml"]["state"] == state
    driver = _checks(envelope)["nvidia driver"]
    assert code == 2 and driver["status"] == "fail" and words in driver["remedy"]


def _bundle(tmp_path: Path, models: list[tuple[str, str, int]]) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    manifest = {
        "format_version": 1,
        "product_version": "0.1.0",
        "models": [{"name": n, "engine": e, "size_bytes": v // 2, "vram_bytes": v} for n, e, v in models],
    }
    (bundle / "bundle.yaml").write_text(json.dumps(manifest))
    return bundle


def _answers(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "site.yaml"
    path.write_text(
        "appliance: {name: t}\nnetwork: {hostname: ai.t.local}\n"
        f"bundle: {{path: {tmp_path / 'bundle'}, public_key: /k.pub}}\n" + body
    )
    return path


def test_model_too_large_for_the_vram(preflight: Any, tmp_path: Path) -> None:
    _bundle(
        tmp_path, [("meta-llama/Llama-3.1-70B-Instruct", "vllm", 140 * GiB), ("google/gemma-3-4b-it", "vllm", 12 * GiB)]
    )
    site = _answers(
        tmp_path,
        "inference:\n  engine: vllm\n  gpus_per_replica: 1\n"
        "  models: [meta-llama/Llama-3.1-70B-Instruct, google/gemma-3-4b-it]\n",
    )
    code, envelope = preflight("h100-1x", "--answers", str(site))
    checks = _checks(envelope)
    big = checks["model meta-llama/Llama-3.1-70B-Instruct"]
    assert code == 2 and big["status"] == "fail"
    assert big["detail"] == "needs 140.0 GiB per replica; 1 × NVIDIA H100 80GB HBM3 (79.6 GiB) give 71.7 GiB usable"
    assert "gpus_per_replica" in big["remedy"]
    assert checks["model google/gemma-3-4b-it"]["status"] == "pass"
    # vLLM serves each model on its own GPUs: two models need two GPUs, one is present.
    assert checks["inference.replicas"]["status"] == "fail" and "only 1" in checks["inference.replicas"]["detail"]


def test_department_quotas_against_real_gpu_count(preflight: Any, tmp_path: Path) -> None:
    _bundle(tmp_path, [("gemma3:4b", "ollama", 6 * GiB)])
    site = _answers(tmp_path, "departments:\n  - {name: legal, gpu_quota: 4}\n  - {name: hr, gpu_quota: 5}\n")
    _, envelope = preflight("a100-8x-mig", "--answers", str(site))
    quota = _checks(envelope)["departments"]
    assert quota["status"] == "fail" and "add up to 9" in quota["detail"] and "8 GPUs are present" in quota["detail"]
    assert _checks(envelope)["model gemma3:4b"]["status"] == "pass"


def test_invalid_answers_stop_preflight_with_located_errors(run_cli: Run, tmp_path: Path) -> None:
    site = tmp_path / "bad.yaml"
    site.write_text(
        "appliance: {name: t}\nnetwork: {hostname: ai.t.local}\nbundle: {path: /b, public_key: /k}\ngpu: {drivr: x}\n"
    )
    result = run_cli("preflight", "--answers", str(site))
    assert result.returncode == 3
    assert f"{site}:4:7" in result.stderr and "did you mean `driver`?" in result.stderr
    assert "Traceback" not in result.stderr


def test_human_output_has_a_gpu_table(run_cli: Run, fake_nvml_dir: Path) -> None:
    env = {"LD_LIBRARY_PATH": str(fake_nvml_dir), "FAKE_NVML_CONFIG": str(SCENARIOS / "gpu-lost.json")}
    result = run_cli("preflight", env=env)
    assert "GPUs (driver 550.54.15, CUDA 12.4)" in result.stdout
    assert "0.5/79.6 GiB" in result.stdout and "LOST" in result.stdout and "00000000:17:00.0" in result.stdout


def test_pynvml_really_loaded_the_fake(fake_nvml_dir: Path) -> None:
    """Guards the premise of this file: the library pynvml opened is the one built from fake_nvml.c."""
    code = "import pynvml; pynvml.nvmlInit(); print(pynvml.nvmlLib._name)"
    env = {**os.environ, "LD_LIBRARY_PATH": str(fake_nvml_dir), "FAKE_NVML_CONFIG": str(SCENARIOS / "h100-1x.json")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "libnvidia-ml.so.1"
    maps = subprocess.run(
        [sys.executable, "-c", code.replace("print(pynvml.nvmlLib._name)", "print(open('/proc/self/maps').read())")],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert str(fake_nvml_dir / "libnvidia-ml.so.1") in maps

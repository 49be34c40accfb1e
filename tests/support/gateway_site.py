"""Runs the inference gateway as the chart configures it, offline, and drives it; prints what it saw.

`python -m tests.support.gateway_site DIR LITELLM` expects DIR to hold the chart's rendered
`config.yaml`, `tenants.json` and `greenzone_gateway.py`, plus `keys.json` and `scenario.json`
(the tenants' keys). It is meant to run inside `unshare --net` (only loopback), so the gateway, the
two engine stand-ins and the client share one namespace with no way out; LiteLLM runs under
`strace -e trace=connect` so every address it tries to reach is recorded. It writes `result.json`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from tests.support.engine_standin import metered_engine

PORT = 4000


def call(
    path: str, key: str | None, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{PORT}{path}", method="POST" if body is not None else "GET")
    if body is not None:
        request.data = json.dumps(body).encode()
        request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    for name, value in (headers or {}).items():
        request.add_header(name, value)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return {"status": response.status, "body": response.read().decode()}
    except urllib.error.HTTPError as error:
        return {"status": error.code, "body": error.read().decode()}


def chat(
    model: str, key: str | None, prompt: str, *, stream: bool = False, headers: dict[str, str] | None = None
) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": prompt}], "stream": stream}
    return call("/v1/chat/completions", key, body, headers)


def health(directory: Path, scenario: dict[str, Any], keys: dict[str, str]) -> list[dict[str, str]]:
    """`greenzone health`'s inference layer against this gateway, its keys from a credentials file."""
    import yaml
    from tests.support.charts import answers

    from greenzone.health.inference_checks import inference_checks
    from greenzone.health.readers.deadline import Deadline
    from greenzone.health.readers.inference import read_inference
    from greenzone.health.targets import health_targets
    from greenzone.statedir import StateDir
    from greenzone.values.gateway import credential_name

    state = StateDir(directory / "state")
    state.root.mkdir(exist_ok=True)
    stored = {credential_name(name): key for name, key in keys.items() if name != "master"}
    state.credentials.write_text(yaml.safe_dump(stored))
    appliance = answers(
        inference={"engine": "ollama", "models": scenario["ollama_models"], "chat_ui": False},
        departments=[{"name": name} for name in scenario["departments"]],
    )
    targets = health_targets(appliance, state, [], {"gateway": f"http://127.0.0.1:{PORT}"}, hostname="node")
    view = read_inference(targets, None, Deadline(30))
    return [{"name": c.name, "status": c.status.value, "detail": c.detail} for c in inference_checks(view, targets)]


def parity_probes(key: str, model: str) -> dict[str, list[dict[str, str]]]:
    """`greenzone parity`'s probe client against this gateway, with and without a key."""
    from greenzone.sync.probe_client import ask_all

    base = f"http://127.0.0.1:{PORT}"
    prompts = ["Reply with the single word: ready.", "Name the chemical symbol for sodium."]
    found = {}
    for name, given in (("with a key", key), ("without a key", None)):
        answers = ask_all(base, model, prompts, key=given, key_source="give one with --onprem-key-env VAR")
        found[name] = [{"text": answer.text, "error": answer.error} for answer in answers]
    return found


def wait_up(process: subprocess.Popen[bytes], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the gateway exited with {process.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{PORT}/health/liveliness", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise SystemExit("the gateway did not answer /health/liveliness in time")


def main(directory: Path, litellm: str) -> None:
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    scenario = json.loads((directory / "scenario.json").read_text())
    keys: dict[str, str] = scenario["keys"]
    result: dict[str, Any] = {}
    with ExitStack() as stack:
        ollama_url, ollama = stack.enter_context(metered_engine(set(scenario["ollama_models"]), "ollama"))
        vllm_url, vllm = stack.enter_context(metered_engine(set(scenario["vllm_models"]), "vllm"))
        config = (directory / "config.yaml").read_text()
        # The only change to the chart's config: the engines' in-cluster names become the stand-ins.
        config = re.sub(r'api_base: "http://[^"]*-ollama:\d+/v1"', f'api_base: "{ollama_url}/v1"', config)
        config = re.sub(r'api_base: "http://[^"]*:8000/v1"', f'api_base: "{vllm_url}/v1"', config)
        (directory / "config.yaml").write_text(config)
        env = dict(
            os.environ,
            LITELLM_MASTER_KEY=keys["master"],
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            GREENZONE_GATEWAY_KEYS=str(directory / "keys.json"),
            GREENZONE_GATEWAY_LIMITS=str(directory / "tenants.json"),
            GREENZONE_AUDIT_DIR=str(directory / "audit"),
            GREENZONE_USER_HEADER="x-openwebui-user-email",
        )
        (directory / "audit").mkdir(exist_ok=True)
        command = [litellm, "--config", str(directory / "config.yaml"), "--host", "127.0.0.1", "--port", str(PORT)]
        command = ["strace", "-f", "-qq", "-e", "trace=connect", "-o", str(directory / "connects.log"), *command]
        with (directory / "gateway.log").open("wb") as log:
            process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            wait_up(process, 180)
            legal, hr, chat_ui = keys["legal"], keys["hr"], keys["chat-ui"]
            ollama_model, vllm_model = scenario["ollama_models"][0], scenario["vllm_models"][0]
            prompt = scenario["prompt"]
            steps: dict[str, Any] = {
                "no key": chat(ollama_model, None, prompt),
                "unknown key": chat(ollama_model, "sk-" + "x" * 48, prompt),
                "legal plain": chat(ollama_model, legal, prompt),
                "legal stream": chat(vllm_model, legal, prompt, stream=True),
                "legal on metrics": call("/metrics/", legal),
                "legal on key admin": call("/key/generate", legal, {}),
                "monitoring on chat": chat(ollama_model, keys["monitoring"], prompt),
                "legal claims a user": chat(
                    ollama_model, legal, prompt, headers={"X-OpenWebUI-User-Email": "made-up@example"}
                ),
                "chat ui as ann": chat(
                    ollama_model, chat_ui, prompt, headers={"X-OpenWebUI-User-Email": "ann@st-mary.example"}
                ),
            }
            steps["hr until refused"] = [chat(vllm_model, hr, prompt)["status"] for _ in range(4)]
            steps["legal while hr refused"] = chat(vllm_model, legal, prompt)
            steps["finance until refused"] = [chat(ollama_model, keys["finance"], prompt)["status"] for _ in range(3)]
            # Rotation: the Secret's file is swapped (Kubernetes renames a new directory into place).
            rotated = dict(keys, legal=scenario["rotated_legal_key"])
            (directory / "keys.new").write_text(scenario["rotated_keys_json"])
            (directory / "keys.new").replace(directory / "keys.json")
            steps["old legal key after rotation"] = chat(ollama_model, legal, prompt)
            steps["new legal key after rotation"] = chat(ollama_model, rotated["legal"], prompt)
            result["health"] = {
                "right keys": health(directory, scenario, rotated),
                "a stale key": health(directory, scenario, keys),
            }
            result["parity"] = parity_probes(keys["monitoring"], ollama_model)
            time.sleep(1.5)  # the logging callbacks run after the answer
            steps["metrics"] = call("/metrics/", keys["monitoring"])
            result["steps"] = steps
            result["engine_requests"] = {"ollama": ollama.requests, "vllm": vllm.requests}
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
    result["audit"] = [
        json.loads(line)
        for path in sorted((directory / "audit").glob("*.jsonl"))
        for line in path.read_text().splitlines()
    ]
    result["connects"] = (directory / "connects.log").read_text().splitlines()
    (directory / "result.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2])

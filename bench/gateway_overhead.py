"""Benchmark: what the inference gateway adds to a request, against the engine asked directly.

LiteLLM's proxy at the chart's version (`tools/litellm`, from .ci/setup) runs the chart's own rendered
config and module in front of the metering engine stand-in the gateway tests use; the same requests go
to the stand-in directly and through the gateway, one at a time, plain and streamed. The stand-in
answers at once, so the figures are the gateway's own cost per request (auth, limiter, metrics, audit),
not a model's. Prints figures; asserts nothing.

    PATH="$PWD/tools/bin:$PATH" .venv/bin/python bench/gateway_overhead.py [--requests 200]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.charts import answers, render_chart
from tests.support.engine_standin import metered_engine
from tests.support.paths import LITELLM

from greenzone.values import gateway
from greenzone.values.ours import INFERENCE_NAMESPACE, inference_values

PORT = 4417
MODEL = "gemma3:4b"


def timed(url: str, key: str | None, stream: bool) -> float:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "one two three"}], "stream": stream}
    request = urllib.request.Request(url + "/v1/chat/completions", data=json.dumps(body).encode(), method="POST")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()
    return time.perf_counter() - started


def figures(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[max(0, int(len(ordered) * 0.95) - 1)]
    return f"p50 {statistics.median(ordered) * 1000:6.1f} ms   p95 {p95 * 1000:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    if not LITELLM.exists():
        raise SystemExit(f"{LITELLM} is missing: run .ci/setup")
    appliance = answers(inference={"engine": "ollama", "models": [MODEL]}, departments=[{"name": "legal"}])
    objects = render_chart(
        "greenzone-inference", "greenzone-inference", INFERENCE_NAMESPACE, inference_values(appliance)
    )
    (config_map,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == gateway.SERVICE]
    key = gateway.new_key()
    with tempfile.TemporaryDirectory() as temp, metered_engine({MODEL}, "ollama") as (engine, _):
        work = Path(temp)
        for name, text in config_map["data"].items():
            (work / name).write_text(text)
        config = (work / "config.yaml").read_text()
        (work / "config.yaml").write_text(
            config.replace('"http://greenzone-inference-ollama:11434/v1"', f'"{engine}/v1"')
        )
        (work / "keys.json").write_text(gateway.keys_document({gateway.credential_name("legal"): key}))
        (work / "audit").mkdir()
        env = dict(
            os.environ,
            LITELLM_MASTER_KEY="sk-" + "0123456789abcdef" * 4,
            LITELLM_LOCAL_MODEL_COST_MAP="True",
            GREENZONE_GATEWAY_KEYS=str(work / "keys.json"),
            GREENZONE_GATEWAY_LIMITS=str(work / "tenants.json"),
            GREENZONE_AUDIT_DIR=str(work / "audit"),
        )
        command = [str(LITELLM), "--config", str(work / "config.yaml"), "--host", "127.0.0.1", "--port", str(PORT)]
        started = time.monotonic()
        process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        try:
            url = f"http://127.0.0.1:{PORT}"
            while True:
                try:
                    urllib.request.urlopen(url + "/health/liveliness", timeout=2).read()
                    break
                except OSError:
                    if process.poll() is not None or time.monotonic() - started > 180:
                        raise SystemExit("the gateway did not start") from None
                    time.sleep(0.3)
            version = subprocess.run(
                [str(LITELLM.parent / "python"), "-c", "import importlib.metadata as m; print(m.version('litellm'))"],
                capture_output=True, text=True, check=False,
            ).stdout.strip()  # fmt: skip
            print(f"gateway start (LiteLLM {version}): {time.monotonic() - started:.1f} s")
            for _ in range(10):  # warm both paths
                timed(engine, None, False)
                timed(url, key, False)
            for stream in (False, True):
                direct = [timed(engine, None, stream) for _ in range(args.requests)]
                through = [timed(url, key, stream) for _ in range(args.requests)]
                kind = "streamed" if stream else "plain   "
                print(f"{kind} engine directly:     {figures(direct)}")
                print(
                    f"{kind} through the gateway: {figures(through)}   "
                    f"(+{(statistics.median(through) - statistics.median(direct)) * 1000:.1f} ms at the median)"
                )
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(20)


if __name__ == "__main__":
    main()

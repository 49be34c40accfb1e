"""The inference gateway as the chart configures it, run for real: LiteLLM's proxy at the chart's
image version (a process here; the image cannot run without a container engine) with the chart's
rendered config.yaml, tenants.json and greenzone_gateway.py, and keys built by the installer's own
code, in front of two engine stand-ins that meter like Ollama's and vLLM's OpenAI-compatible APIs.
All of it runs inside `unshare --net` (loopback only) with LiteLLM under `strace -e trace=connect`.

Not exercised here: the pod itself (image, probes, volumes, NetworkPolicies), which need a cluster;
they are proven by rendering (tests/test_charts_render.py) and schema validation.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

import pytest

from greenzone.values import gateway
from greenzone.values.ours import INFERENCE_NAMESPACE, inference_values
from tests.support.charts import answers, render_chart
from tests.support.engine_standin import ANSWER, words
from tests.support.paths import LITELLM, REPO

pytestmark = pytest.mark.slow

PROMPT = "Summarise the indemnification clause of the attached agreement"
"""9 words, the stand-ins' token count; a tokenizer would count more, so equal counts below mean the
engine's own usage reached the metrics, streaming included."""
OLLAMA_MODELS, VLLM_MODELS = ["gemma3:4b"], ["google/gemma-3-4b-it"]


def rendered_gateway(engine: str, models: list[str], departments: list[dict[str, Any]]) -> dict[str, str]:
    appliance = answers(inference={"engine": engine, "models": models, "chat_ui": True}, departments=departments)
    objects = render_chart(
        "greenzone-inference", "greenzone-inference", INFERENCE_NAMESPACE, inference_values(appliance)
    )
    (config_map,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-gateway")]
    return dict(config_map["data"])


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    if not LITELLM.exists():
        pytest.fail(f"{LITELLM} is missing: run .ci/setup, which installs the gateway the chart pins")
    departments = [
        {"name": "legal", "gpu_quota": 0, "requests_per_minute": 8},
        {"name": "hr", "gpu_quota": 0, "tokens_per_minute": 40},
        {"name": "finance", "gpu_quota": 0, "requests_per_minute": 2},
    ]
    ollama = rendered_gateway("ollama", OLLAMA_MODELS, departments)
    vllm = rendered_gateway("vllm", VLLM_MODELS, departments)
    work = tmp_path_factory.mktemp("gateway")
    # One gateway in front of both engines: the Ollama rendering's config plus vLLM's model entries.
    vllm_models = vllm["config.yaml"].split("model_list:\n", 1)[1].split("general_settings:", 1)[0]
    config = ollama["config.yaml"].replace("general_settings:", vllm_models + "general_settings:", 1)
    (work / "config.yaml").write_text(config)
    (work / "tenants.json").write_text(ollama["tenants.json"])
    (work / "greenzone_gateway.py").write_text(ollama["greenzone_gateway.py"])
    credentials = {
        gateway.credential_name(name): gateway.new_key() for name in ("legal", "hr", "finance", "chat-ui", "monitoring")
    }
    (work / "keys.json").write_text(gateway.keys_document(credentials))
    rotated = dict(credentials, **{gateway.credential_name("legal"): gateway.new_key()})
    keys = gateway.tenant_keys(credentials)
    scenario = {
        "keys": keys | {"master": "sk-" + "0123456789abcdef" * 4},
        "rotated_legal_key": rotated[gateway.credential_name("legal")],
        "rotated_keys_json": gateway.keys_document(rotated),
        "ollama_models": OLLAMA_MODELS,
        "vllm_models": VLLM_MODELS,
        "prompt": PROMPT,
        "departments": ["legal", "hr", "radiology"],
    }
    (work / "scenario.json").write_text(json.dumps(scenario))
    done = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-m", "tests.support.gateway_site", str(work), str(LITELLM)],
        capture_output=True, text=True, cwd=REPO, timeout=600, check=False,
    )  # fmt: skip
    log = (work / "gateway.log").read_text() if (work / "gateway.log").exists() else ""
    assert done.returncode == 0, done.stderr[-3000:] + log[-3000:]
    result: dict[str, Any] = json.loads((work / "result.json").read_text())
    result["keys"] = keys
    result["log"] = log
    return result


def samples(metrics: str, name: str) -> list[tuple[dict[str, str], float]]:
    found = []
    for line in metrics.splitlines():
        match = re.match(rf"^{re.escape(name)}\{{(.*)\}} (\S+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1)))
            found.append((labels, float(match.group(2))))
    return found


def total(metrics: str, name: str, **labels: str) -> float:
    return sum(value for found, value in samples(metrics, name) if all(found.get(k) == v for k, v in labels.items()))


def test_keys_decide_who_may_call_what(site: dict[str, Any]) -> None:
    steps = site["steps"]
    assert steps["no key"]["status"] == 401 and "department's key" in steps["no key"]["body"]
    assert steps["unknown key"]["status"] == 401
    assert steps["legal plain"]["status"] == 200 and ANSWER in steps["legal plain"]["body"]
    assert steps["legal stream"]["status"] == 200 and "data: [DONE]" in steps["legal stream"]["body"]
    # A department reads neither the other departments' metrics nor the proxy's administration.
    assert steps["legal on metrics"]["status"] in (401, 403)
    assert steps["legal on key admin"]["status"] == 403
    assert steps["monitoring on chat"]["status"] == 200
    assert steps["metrics"]["status"] == 200


def test_a_department_over_its_limit_gets_429_and_the_others_do_not(site: dict[str, Any]) -> None:
    steps = site["steps"]
    # hr may use 40 tokens a minute; each request costs 9 + 5 = 14.
    assert steps["hr until refused"][0] == 200 and 429 in steps["hr until refused"]
    assert steps["legal while hr refused"]["status"] == 200
    # finance may make 2 requests a minute.
    assert steps["finance until refused"] == [200, 200, 429]
    limited = [r for r in site["audit"] if r["status"] == "rate-limited"]
    assert limited and {r["department"] for r in limited} == {"hr", "finance"}


def test_usage_is_counted_per_department_and_model_streaming_included(site: dict[str, Any]) -> None:
    metrics = site["steps"]["metrics"]["body"]
    prompt, answer = words(PROMPT), words(ANSWER)
    legal_ok = 5  # plain, stream, claiming a user, while hr was refused, and with the new key after rotation
    assert total(metrics, "litellm_input_tokens_metric_total", team="legal") == legal_ok * prompt
    assert total(metrics, "litellm_output_tokens_metric_total", team="legal") == legal_ok * answer
    streamed = total(metrics, "litellm_output_tokens_metric_total", team="legal", model=VLLM_MODELS[0])
    assert streamed == 2 * answer  # the streamed request and the one while hr was refused
    hr_ok = site["steps"]["hr until refused"].count(200)
    assert total(metrics, "litellm_input_tokens_metric_total", team="hr") == hr_ok * prompt
    assert total(metrics, "litellm_requests_metric_total", team="hr") == hr_ok
    assert total(metrics, "litellm_proxy_failed_requests_metric_total", team="hr", exception_status="429") >= 1
    # The chat UI's user rides along as the end user.
    assert total(metrics, "litellm_total_tokens_metric_total", team="chat-ui", end_user="ann@st-mary.example") == (
        prompt + answer
    )
    # The engines saw the gateway, never a department's key.
    seen = site["engine_requests"]["ollama"] + site["engine_requests"]["vllm"]
    keys = set(site["keys"].values())
    assert seen and not [r for r in seen if any(key in json.dumps(r) for key in keys)]
    assert all(r["body"].get("stream_options", {}).get("include_usage") for r in seen if r["body"].get("stream"))


def test_the_audit_trail_names_who_and_never_what(site: dict[str, Any]) -> None:
    audit = site["audit"]
    assert {"legal", "hr", "chat-ui", "monitoring"} <= {r["department"] for r in audit}
    (ann,) = [r for r in audit if r["user"] == "ann@st-mary.example"]
    # Only the chat UI's forwarded user is kept; a department cannot name users in the trail.
    assert not [r for r in audit if r["user"] and r["department"] != "chat-ui"]
    assert ann["department"] == "chat-ui" and ann["prompt_tokens"] == words(PROMPT) and ann["status"] == "success"
    assert {"time", "model", "completion_tokens", "status", "seconds"} <= set(ann)
    text = json.dumps(audit) + site["log"]
    assert "indemnification" not in text and "private answers" not in text
    assert not [key for key in site["keys"].values() if key in text]


def test_a_rotated_key_replaces_the_old_one_without_a_restart(site: dict[str, Any]) -> None:
    assert site["steps"]["old legal key after rotation"]["status"] == 401
    assert site["steps"]["new legal key after rotation"]["status"] == 200


def test_nothing_reaches_out(site: dict[str, Any]) -> None:
    """Every connect(2) LiteLLM made, from start to stop, was to loopback or a local socket."""
    attempts = [line for line in site["connects"] if "connect(" in line]
    assert attempts, "strace recorded no connect at all: the trace did not run"
    outside = [
        line
        for line in attempts
        if "AF_UNIX" not in line and 'inet_addr("127.0.0.1")' not in line and "::1" not in line
    ]
    assert not outside, outside


def test_every_metric_and_label_the_usage_dashboard_reads_is_one_the_gateway_exports(site: dict[str, Any]) -> None:
    """The dashboard's queries against what the real gateway served (LiteLLM's metric list:
    docs.litellm.ai/docs/proxy/prometheus); DCGM's metrics are the GPU operator's."""
    board = json.loads((REPO / "charts" / "greenzone-guardrails" / "dashboards" / "usage.json").read_text())
    exprs = [target["expr"] for panel in board["panels"] for target in panel["targets"]]
    exprs.append(board["templating"]["list"][1]["definition"])
    metrics = site["steps"]["metrics"]["body"]
    used = {name for expr in exprs for name in re.findall(r"\b(litellm_[a-z_]+)", expr)}
    assert len(used) >= 5
    for name in used:
        found = samples(metrics, name)
        assert found, f"the gateway exports no {name}"
        labels = set().union(*(set(labels) for labels, _ in found))
        for expr in exprs:
            if name in expr:
                wanted = (
                    set(re.findall(r"by \(([^)]*)\)", expr)[0].replace(" ", "").split(","))
                    if " by (" in expr
                    else set()
                )
                wanted |= set(re.findall(r"(\w+)=~?\"", expr))
                assert wanted - {"le"} <= labels, f"{name} has no label {wanted - labels} ({expr})"


def test_health_checks_the_gateway_each_department_key_and_a_model_through_it(site: dict[str, Any]) -> None:
    right = {check["name"]: check for check in site["health"]["right keys"]}
    assert right["gateway"]["status"] == "pass"
    assert right["gateway refuses unknown keys"]["status"] == "pass"
    assert right["department legal's key"]["status"] == "pass"
    # hr is over its limit by now; /v1/models is not metered, so its key still shows as accepted.
    assert right["department hr's key"]["status"] == "pass"
    assert right["department radiology's key"]["status"] == "fail"
    assert "no key" in right["department radiology's key"]["detail"]
    (model,) = [check for name, check in right.items() if name.startswith("model ")]
    assert "through the gateway" in model["name"] and model["status"] == "pass", model
    stale = {check["name"]: check for check in site["health"]["a stale key"]}
    assert stale["department legal's key"]["status"] == "fail" and "401" in stale["department legal's key"]["detail"]
    # No key ever reaches a check's text.
    assert not [key for key in site["keys"].values() if key in json.dumps(site["health"])]


def test_parity_probes_go_through_the_gateway_with_a_key(site: dict[str, Any]) -> None:
    answered = site["parity"]["with a key"]
    assert [answer["text"] for answer in answered] == [ANSWER, ANSWER] and not any(a["error"] for a in answered)
    first, second = site["parity"]["without a key"]
    assert first["error"].startswith("HTTP 401: the gateway wants a key") and "--onprem-key-env" in first["error"]
    assert second["error"].startswith("not sent")

"""Our two charts rendered by the real `helm` over the issue's matrix (engine x nodes x chat UI x
egress x departments = 48 appliances), every object validated against the Kubernetes JSON schemas
of the k3s version in the lockfile, then checked for what the appliance promises: GPUs requested,
nothing fetched at run time, egress closed except what is allowed, quotas that add up, no moving
tags and no secret in plain sight.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from greenzone.answers.model import Answers
from greenzone.images import images_of, tagged_latest
from greenzone.values import gateway
from greenzone.values.ours import INFERENCE_NAMESPACE, guardrails_values, inference_values
from tests.support.charts import answers, pinned_refs, render_chart, validate

ENGINES = {"ollama": ["gemma3:4b"], "vllm": ["google/gemma-3-4b-it", "meta-llama/Llama-3.1-8B-Instruct"]}
TOPOLOGIES = {
    "single": {"nodes": [{}], "replicas": 1, "gpus": 1},
    "multi": {
        "nodes": [
            {"name": "cp-1", "address": "local"},
            {"name": "cp-2", "address": "192.168.20.12"},
            {"name": "cp-3", "address": "192.168.20.13"},
            {"name": "gpu-1", "address": "192.168.20.21", "role": "agent"},
        ],
        "replicas": 2,
        "gpus": 2,
    },
}
EGRESS = {
    "deny": {"egress": "deny"},
    "allow-list": {"egress": "allow-list", "allow_cidrs": ["192.168.30.0/24", "10.9.0.0/16"]},
}
DEPARTMENTS = {
    0: [],
    1: [{"name": "legal", "gpu_quota": 1, "memory_quota": "64Gi"}],
    3: [
        {"name": "litigation", "gpu_quota": 4, "memory_quota": "256Gi"},
        {"name": "contracts", "gpu_quota": 2, "memory_quota": "128Gi"},
        {"name": "hr", "namespace": "human-resources", "gpu_quota": 0, "memory_quota": "16Gi"},
    ],
}
MATRIX = list(itertools.product(ENGINES, TOPOLOGIES, (True, False), EGRESS, DEPARTMENTS))
GATEWAY_PODS = {"app.kubernetes.io/instance": "greenzone-inference", "app.kubernetes.io/component": "gateway"}
SECRETISH = ("PASSWORD", "SECRET", "TOKEN", "API_KEY")


def appliance(engine: str, topology: str, chat_ui: bool, egress: str, departments: int) -> Answers:
    shape = TOPOLOGIES[topology]
    return answers(
        nodes=shape["nodes"],
        inference={
            "engine": engine,
            "models": ENGINES[engine],
            "replicas": shape["replicas"],
            "gpus_per_replica": shape["gpus"],
            "chat_ui": chat_ui,
        },
        departments=DEPARTMENTS[departments],
        green_zone=EGRESS[egress],
    )


def rendered(answers: Answers) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    inference = render_chart(
        "greenzone-inference", "greenzone-inference", INFERENCE_NAMESPACE, inference_values(answers)
    )
    guardrails = render_chart(
        "greenzone-guardrails", "greenzone-guardrails", "greenzone-system", guardrails_values(answers)
    )
    return inference, guardrails


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [obj for obj in objects if obj["kind"] == kind]


def containers(obj: dict[str, Any], key: str = "containers") -> list[dict[str, Any]]:
    spec = obj["spec"]["template"]["spec"] if obj["kind"] == "Deployment" else obj["spec"]
    return list(spec.get(key) or [])


def model_of(engine: dict[str, Any]) -> str:
    return str(
        next(a.removeprefix("--served-model-name=") for a in engine["args"] if a.startswith("--served-model-name="))
    )


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key), item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


@pytest.mark.parametrize(("engine", "topology", "chat_ui", "egress", "departments"), MATRIX)
def test_matrix(engine: str, topology: str, chat_ui: bool, egress: str, departments: int) -> None:
    answers = appliance(engine, topology, chat_ui, egress, departments)
    inference, guardrails = rendered(answers)
    for obj in [*inference, *guardrails]:
        validate(obj)
    check_engine(answers, inference)
    check_chat_ui(answers, inference)
    check_gateway(answers, inference)
    check_images(inference)
    check_no_plain_secrets([*inference, *guardrails])
    check_namespaces_and_quotas(answers, guardrails)
    check_egress(answers, guardrails)
    check_rbac(answers, guardrails)


def check_engine(answers: Answers, objects: list[dict[str, Any]]) -> None:
    inference = answers.inference
    engines = [
        obj
        for obj in of_kind(objects, "Deployment")
        if obj["spec"]["template"]["metadata"]["labels"].get("greenzone.io/engine")
    ]
    assert len(engines) == (1 if inference.engine == "ollama" else len(inference.models))
    services = {svc["metadata"]["name"]: svc for svc in of_kind(objects, "Service")}
    for deployment in engines:
        pod = deployment["spec"]["template"]["spec"]
        assert deployment["spec"]["replicas"] == inference.replicas
        assert pod["runtimeClassName"] == "nvidia"
        assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in pod["tolerations"]
        (engine,) = containers(deployment)
        gpus = inference.gpus_per_replica
        assert engine["resources"]["limits"]["nvidia.com/gpu"] == gpus
        assert engine["resources"]["requests"]["nvidia.com/gpu"] == gpus
        for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
            assert probe in engine, f"{deployment['metadata']['name']} has no {probe}"
        env = {item["name"]: item.get("value") for item in engine.get("env", [])}
        # The store is seeded from the bundle's hostPath, read-only, by copying; never pulled.
        (seed,) = containers(deployment, "initContainers")
        assert "pull" not in " ".join(seed["command"]) and "pull" not in " ".join(engine.get("args", []))
        bundle_volume = next(v for v in pod["volumes"] if v["name"] == "bundle-models")
        assert bundle_volume["hostPath"]["path"] == "/var/lib/greenzone/bundle/models"
        assert {"name": "bundle-models", "mountPath": "/bundle", "readOnly": True} in seed["volumeMounts"]
        # The checked, atomic seeder (tests/test_charts_seed.py runs it), each engine its own part.
        prefix = "ollama/" if inference.engine == "ollama" else f"hf/{model_of(engine)}/"
        assert seed["command"] == ["sh", "/seed/seed-models.sh", "/bundle", "/store", prefix]
        seeder = next(v for v in pod["volumes"] if v["name"] == "seed")["configMap"]["name"]
        assert (
            "seed-models.sh"
            in next(c for c in of_kind(objects, "ConfigMap") if c["metadata"]["name"] == seeder)["data"]
        )
        if inference.engine == "vllm":
            assert env["HF_HUB_OFFLINE"] == "1" and env["TRANSFORMERS_OFFLINE"] == "1"
            model_arg = next(arg for arg in engine["args"] if arg.startswith("--model="))
            assert model_arg.startswith("--model=/models/hf/")
            assert f"--tensor-parallel-size={gpus}" in engine["args"]
            assert engine["readinessProbe"]["httpGet"]["path"] == "/v1/models"
        else:
            assert env["OLLAMA_MODELS"] == "/models/ollama" and env["OLLAMA_NOPRUNE"] == "1"
            assert env["OLLAMA_NO_CLOUD"] == "1"  # `*-cloud` models would reach ollama.com
            assert engine["livenessProbe"]["httpGet"]["path"] == "/api/version"
        name = deployment["metadata"]["name"]
        assert services[name]["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    # `helm test`: one pod asking every model for exactly one token.
    (test_pod,) = [
        pod for pod in of_kind(objects, "Pod") if pod["metadata"]["annotations"].get("helm.sh/hook") == "test"
    ]
    script = test_pod["spec"]["containers"][0]["args"][0]
    for model in inference.models:
        assert f'"model": "{model}"' in script
    one_token = '"num_predict": 1' if inference.engine == "ollama" else '"max_tokens": 1'
    assert script.count(one_token) == len(inference.models)
    for host in [line.split("//")[1].split(":")[0] for line in script.splitlines() if line.strip().startswith("url=")]:
        assert host in services, f"test pod calls {host}, which is not a rendered Service"


def check_chat_ui(answers: Answers, objects: list[dict[str, Any]]) -> None:
    chats = [obj for obj in of_kind(objects, "Deployment") if obj["metadata"]["name"].endswith("-chat")]
    ingresses = [obj for obj in of_kind(objects, "Ingress") if obj["metadata"]["name"].endswith("-chat")]
    if not answers.inference.chat_ui:
        assert not chats and not ingresses
        return
    (chat,) = chats
    env = {item["name"]: item for item in containers(chat)[0]["env"]}
    assert env["OFFLINE_MODE"]["value"] == "true"
    # The answer file's engine and models win over what the UI stored at its first start.
    assert env["ENABLE_PERSISTENT_CONFIG"]["value"] == "false"
    # The image's offline caches reach the data volume before the UI starts.
    (seed,) = containers(chat, "initContainers")
    assert seed["image"] == containers(chat)[0]["image"]
    assert seed["command"] == ["sh", "/seed/seed-app-data.sh", "/app/backend/data", "/data"]
    assert {"name": "data", "mountPath": "/data"} in seed["volumeMounts"]
    assert {"name": "data", "mountPath": "/app/backend/data"} in containers(chat)[0]["volumeMounts"]
    assert env["WEBUI_SECRET_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "greenzone-chat-ui"
    services = {svc["metadata"]["name"] for svc in of_kind(objects, "Service")}
    # The UI reaches the models through the gateway only, with its own key, forwarding its users.
    assert env["ENABLE_OLLAMA_API"]["value"] == "false" and env["ENABLE_OPENAI_API"]["value"] == "true"
    assert env["OPENAI_API_BASE_URL"]["value"] == f"http://{gateway.SERVICE}:{gateway.PORT}/v1"
    assert gateway.SERVICE in services
    assert env["OPENAI_API_KEY"]["valueFrom"]["secretKeyRef"] == {
        "name": gateway.CHAT_UI_SECRET,
        "key": "OPENAI_API_KEY",
    }
    assert env["ENABLE_FORWARD_USER_INFO_HEADERS"]["value"] == "true"
    (ingress,) = ingresses
    assert ingress["spec"]["rules"][0]["host"] == answers.network.hostname


def check_gateway(answers: Answers, objects: list[dict[str, Any]]) -> None:
    """Every model reaches its engine's Service through the gateway; limits are the answers'."""
    (config_map,) = [o for o in of_kind(objects, "ConfigMap") if o["metadata"]["name"] == gateway.SERVICE]
    config = yaml.safe_load(config_map["data"]["config.yaml"])
    services = {svc["metadata"]["name"]: svc for svc in of_kind(objects, "Service")}
    served = {}
    for entry in config["model_list"]:
        host, port = entry["litellm_params"]["api_base"].removeprefix("http://").removesuffix("/v1").split(":")
        assert services[host]["metadata"]["labels"]["greenzone.io/engine"] == answers.inference.engine
        assert int(port) == services[host]["spec"]["ports"][0]["port"]
        served[entry["model_name"]] = entry["litellm_params"]["model"]
    assert served == {model: f"openai/{model}" for model in answers.inference.models}
    assert config["general_settings"]["custom_auth"] == "greenzone_gateway.user_api_key_auth"
    assert config["litellm_settings"]["turn_off_message_logging"] is True
    assert "prometheus" in config["litellm_settings"]["callbacks"]
    tenants = json.loads(config_map["data"]["tenants.json"])["tenants"]
    assert tenants == [
        {
            "name": d.name,
            "namespace": d.namespace_name,
            "requestsPerMinute": d.requests_per_minute,
            "tokensPerMinute": d.tokens_per_minute,
        }
        for d in answers.departments
    ]
    (deployment,) = [o for o in of_kind(objects, "Deployment") if o["metadata"]["name"] == gateway.SERVICE]
    (container,) = containers(deployment)
    env = {item["name"]: item for item in container["env"]}
    assert env["LITELLM_MASTER_KEY"]["valueFrom"]["secretKeyRef"]["name"] == gateway.MASTER_SECRET
    assert env["LITELLM_LOCAL_MODEL_COST_MAP"]["value"] == "True"
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    assert volumes["keys"]["secret"]["secretName"] == gateway.KEYS_SECRET
    monitors = [o for o in of_kind(objects, "ServiceMonitor") if o["metadata"]["name"] == gateway.SERVICE]
    if answers.monitoring.enabled:
        (monitor,) = monitors
        (endpoint,) = monitor["spec"]["endpoints"]
        assert endpoint["authorization"]["credentials"]["name"] == gateway.MONITORING_SECRET
        # end_user survives only on the chat UI's series (a department could invent users without end).
        relabel = endpoint["metricRelabelings"]
        assert relabel[0]["sourceLabels"] == ["team"] and relabel[0]["regex"] == "chat-ui"
        assert relabel[1]["targetLabel"] == "end_user" and relabel[1]["replacement"] == ""
    else:
        assert not monitors


def check_images(objects: list[dict[str, Any]]) -> None:
    refs = images_of(objects)
    assert refs
    assert not [ref for ref in refs if tagged_latest(ref)]
    pinned = pinned_refs()
    assert set(refs) <= pinned, f"not pinned in the lock: {set(refs) - pinned}"


def check_no_plain_secrets(objects: list[dict[str, Any]]) -> None:
    for obj in objects:
        assert obj["kind"] != "Secret", "secrets are created by the installer, never rendered from values"
        if obj["kind"] == "ConfigMap":
            for key, text in obj.get("data", {}).items():
                assert not any(word.lower() in key.lower() for word in SECRETISH), key
                assert "password" not in text.lower(), f"{obj['metadata']['name']}/{key} mentions a password"
        for key, value in walk(obj):
            if key == "env":
                for item in value:
                    if any(word in item["name"] for word in SECRETISH):
                        # vLLM runs without --api-key inside the zone; the UI still wants one placeholder per URL.
                        placeholder = set(str(item.get("value", "none")).split(";")) == {"none"}
                        assert placeholder, f"{item['name']} is set inline in {obj['metadata']['name']}"


def check_namespaces_and_quotas(answers: Answers, objects: list[dict[str, Any]]) -> None:
    expected = {department.namespace_name for department in answers.departments}
    namespaces = {ns["metadata"]["name"] for ns in of_kind(objects, "Namespace")}
    assert namespaces == expected
    quotas = of_kind(objects, "ResourceQuota")
    assert {quota["metadata"]["namespace"] for quota in quotas} == expected
    gpu_sum = sum(int(quota["spec"]["hard"]["requests.nvidia.com/gpu"]) for quota in quotas)
    assert gpu_sum == sum(department.gpu_quota for department in answers.departments)
    for department in answers.departments:
        (quota,) = [q for q in quotas if q["metadata"]["namespace"] == department.namespace_name]
        assert quota["spec"]["hard"]["requests.memory"] == department.memory_quota
        assert quota["spec"]["hard"]["limits.memory"] == department.memory_quota
    assert {lr["metadata"]["namespace"] for lr in of_kind(objects, "LimitRange")} == expected


def check_egress(answers: Answers, objects: list[dict[str, Any]]) -> None:
    zone = {INFERENCE_NAMESPACE} | {department.namespace_name for department in answers.departments}
    policies = of_kind(objects, "NetworkPolicy")
    assert {policy["metadata"]["namespace"] for policy in policies} == zone
    allowed_cidrs = set(answers.green_zone.allow_cidrs) if answers.green_zone.egress == "allow-list" else set()
    for namespace in zone:
        mine = {p["metadata"]["name"]: p["spec"] for p in policies if p["metadata"]["namespace"] == namespace}
        deny = mine["greenzone-default-deny-egress"]
        assert deny == {"podSelector": {}, "policyTypes": ["Egress"]}
        allow = mine["greenzone-allow-egress"]
        assert allow["podSelector"] == {}
        cidrs: set[str] = set()
        for rule in allow["egress"]:
            assert rule.get("to"), "an egress rule without `to` would allow every destination"
            for peer in rule["to"]:
                if "ipBlock" in peer:
                    assert not peer["ipBlock"].get("except")
                    cidrs.add(peer["ipBlock"]["cidr"])
                elif "namespaceSelector" in peer:
                    target = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                    ports = {port["port"] for port in rule["ports"]}
                    if target == "kube-system":
                        assert peer["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}} and ports == {53}
                    else:
                        # A department reaches the gateway's pods on its port, never the engines.
                        assert target == INFERENCE_NAMESPACE and namespace != INFERENCE_NAMESPACE
                        assert peer["podSelector"] == {"matchLabels": GATEWAY_PODS}
                        assert ports == {gateway.PORT}
                else:
                    assert peer == {"podSelector": {}}, peer
        assert cidrs == allowed_cidrs
        assert "0.0.0.0/0" not in cidrs
    (engines,) = [p for p in policies if p["metadata"]["name"] == "greenzone-engines-ingress"]
    assert engines["metadata"]["namespace"] == INFERENCE_NAMESPACE
    assert engines["spec"]["podSelector"] == {
        "matchExpressions": [{"key": "greenzone.io/engine", "operator": "Exists"}]
    }
    (callers, scrape) = engines["spec"]["ingress"]
    assert callers["from"] == [
        {"podSelector": {"matchLabels": GATEWAY_PODS}},
        {"podSelector": {"matchLabels": {"app.kubernetes.io/component": "test"}}},
    ]
    assert {port["port"] for port in callers["ports"]} == {11434, 8000}
    # Prometheus's pods, on vLLM's metrics port only: not Grafana, and not Ollama's API.
    assert scrape["from"] == [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": "prometheus"}},
        }
    ]
    assert [port["port"] for port in scrape["ports"]] == [8000]


def check_rbac(answers: Answers, objects: list[dict[str, Any]]) -> None:
    assert not of_kind(objects, "ClusterRole") and not of_kind(objects, "ClusterRoleBinding")
    roles = of_kind(objects, "Role")
    assert {role["metadata"]["namespace"] for role in roles} == {d.namespace_name for d in answers.departments}
    for role in roles:
        for rule in role["rules"]:
            if {"networkpolicies", "resourcequotas", "limitranges"} & set(rule["resources"]):
                assert set(rule["verbs"]) <= {"get", "list", "watch"}, "a department could widen its own zone"
    for binding in of_kind(objects, "RoleBinding"):
        department = next(d for d in answers.departments if d.namespace_name == binding["metadata"]["namespace"])
        assert binding["subjects"] == [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": f"greenzone:{department.name}"}
        ]


def test_dashboards_follow_monitoring_and_price() -> None:
    price, output_price = 0.0125, 0.05
    on = answers(
        monitoring={
            "enabled": True,
            "public_api_price_per_1k_tokens": price,
            "public_api_output_price_per_1k_tokens": output_price,
        },
        departments=[{"name": "legal", "namespace": "law"}],
    )
    objects = render_chart("greenzone-guardrails", "greenzone-guardrails", "greenzone-system", guardrails_values(on))
    boards = {cm["metadata"]["name"]: cm for cm in of_kind(objects, "ConfigMap")}
    assert set(boards) == {"greenzone-dashboard-gpu-health", "greenzone-dashboard-usage"}
    for cm in boards.values():
        validate(cm)
        assert cm["metadata"]["namespace"] == "monitoring"
        assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    gpu = json.loads(boards["greenzone-dashboard-gpu-health"]["data"]["greenzone-gpu-health.json"])
    exprs = " ".join(target["expr"] for panel in gpu["panels"] for target in panel["targets"])
    for metric in ("DCGM_FI_DEV_GPU_TEMP", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_DEV_XID_ERRORS"):
        assert metric in exprs
    usage = json.loads(boards["greenzone-dashboard-usage"]["data"]["greenzone-usage.json"])
    variables = {v["name"]: v for v in usage["templating"]["list"]}
    # Input falls back to the one price; output has its own (public APIs price them differently).
    assert float(variables["price_input_per_1k"]["query"]) == price
    assert float(variables["price_output_per_1k"]["query"]) == output_price
    (saved,) = [panel for panel in usage["panels"] if panel["title"].startswith("Cost saved")]
    expr = saved["targets"][0]["expr"]
    assert "litellm_input_tokens_metric_total" in expr and "$price_input_per_1k" in expr
    assert "litellm_output_tokens_metric_total" in expr and "$price_output_per_1k" in expr
    # Every usage panel but the GPU one is filtered by the department variable.
    assert variables["department"]["multi"] and "team" in variables["department"]["definition"]
    for panel in usage["panels"]:
        for target in panel["targets"]:
            assert 'team=~"$department"' in target["expr"] or "DCGM" in target["expr"] or "chat-ui" in target["expr"]
    (gpu_panel,) = [panel for panel in usage["panels"] if "DCGM" in panel["targets"][0]["expr"]]
    assert 'exported_namespace=~"greenzone-inference|law"' in gpu_panel["targets"][0]["expr"]
    assert not re.search(r"__[A-Z0-9_]+__", json.dumps(usage)), "a placeholder was left unreplaced"

    off = answers(monitoring={"enabled": False})
    objects = render_chart("greenzone-guardrails", "greenzone-guardrails", "greenzone-system", guardrails_values(off))
    assert not of_kind(objects, "ConfigMap")


def test_cpu_only_ollama_requests_no_gpu() -> None:
    cpu = answers(inference={"engine": "ollama", "gpus_per_replica": 0, "chat_ui": False})
    objects = render_chart("greenzone-inference", "greenzone-inference", INFERENCE_NAMESPACE, inference_values(cpu))
    (deployment,) = [o for o in of_kind(objects, "Deployment") if o["metadata"]["name"].endswith("-ollama")]
    pod = deployment["spec"]["template"]["spec"]
    assert "runtimeClassName" not in pod and "nodeSelector" not in pod
    assert "nvidia.com/gpu" not in json.dumps(pod["containers"][0]["resources"])

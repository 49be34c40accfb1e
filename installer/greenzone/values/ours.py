"""Values for greenzone's own charts (charts/greenzone-inference, charts/greenzone-guardrails)."""

from __future__ import annotations

from typing import Any

from greenzone.answers.model import Answers
from greenzone.values import gateway, secrets
from greenzone.values.gpu_operator import RUNTIME_CLASS
from greenzone.values.monitoring import DASHBOARD_LABEL
from greenzone.values.monitoring import NAMESPACE as MONITORING_NAMESPACE

INFERENCE_NAMESPACE = "greenzone-inference"
MODEL_BUNDLE_DIR = "/var/lib/greenzone/bundle/models"
"""Where the installer copies the bundle's `models/` on every GPU node (read-only to the pods)."""

MODEL_STORE_DIR = "/var/lib/greenzone/model-store"
OLLAMA_PORT = 11434
VLLM_PORT = 8000


def inference_values(answers: Answers) -> dict[str, Any]:
    inference = answers.inference
    hostname = answers.network.hostname
    return {
        "engine": inference.engine,
        "models": list(inference.models),
        "replicas": inference.replicas,
        "gpu": {"count": inference.gpus_per_replica, "runtimeClassName": RUNTIME_CLASS},
        "modelStore": {"bundlePath": MODEL_BUNDLE_DIR, "type": "hostPath", "hostPath": MODEL_STORE_DIR},
        "ollama": {"port": OLLAMA_PORT},
        "vllm": {"port": VLLM_PORT},
        "chatUi": {"enabled": inference.chat_ui, "secretKeySecret": secrets.CHAT_UI},
        "ingress": {"enabled": inference.chat_ui, "host": hostname, "tlsSecret": secrets.INGRESS_TLS},
        "metrics": {
            "serviceMonitor": answers.monitoring.enabled and inference.engine == "vllm",
            "gatewayServiceMonitor": answers.monitoring.enabled,
        },
        "gateway": gateway.gateway_values(answers),
    }


def guardrails_values(answers: Answers) -> dict[str, Any]:
    zone = answers.green_zone
    return {
        "inference": {
            "namespace": INFERENCE_NAMESPACE,
            "ports": [OLLAMA_PORT, VLLM_PORT],
            "gateway": {
                "port": gateway.PORT,
                "podLabels": {
                    "app.kubernetes.io/instance": "greenzone-inference",
                    "app.kubernetes.io/component": "gateway",
                },
            },
            "testPodLabels": {"app.kubernetes.io/component": "test"},
            "scrapeNamespace": MONITORING_NAMESPACE,
            "scrapePodLabels": {"app.kubernetes.io/name": "prometheus"},
            "metricsPorts": [VLLM_PORT],
        },
        "departments": [
            {
                "name": department.name,
                "namespace": department.namespace_name,
                "gpuQuota": department.gpu_quota,
                "memoryQuota": department.memory_quota,
                "group": f"greenzone:{department.name}",
            }
            for department in answers.departments
        ],
        "egress": {
            "mode": zone.egress,
            "allowCidrs": list(zone.allow_cidrs) if zone.egress == "allow-list" else [],
        },
        "dashboards": {
            "enabled": answers.monitoring.enabled,
            "namespace": MONITORING_NAMESPACE,
            "label": DASHBOARD_LABEL,
            "labelValue": "1",
            "appliance": answers.appliance.name,
            "pricePer1kInputTokens": answers.monitoring.input_price,
            "pricePer1kOutputTokens": answers.monitoring.output_price,
        },
    }

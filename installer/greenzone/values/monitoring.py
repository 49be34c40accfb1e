"""Values for kube-prometheus-stack: the smallest stack that feeds the GPU and usage dashboards.

Keys checked against kube-prometheus-stack 88.5.3 (prometheus-community/helm-charts,
`charts/kube-prometheus-stack/values.yaml` at tag kube-prometheus-stack-88.5.3; its grafana
subchart 12.11.1, kube-state-metrics 8.4.0, prometheus-node-exporter 4.56.1).

k3s runs the scheduler, controller manager, proxy and etcd inside the k3s process, so the chart's
scrape targets for them find nothing and would only fire alerts; they are off. The admission
webhooks are off too: they need a certificate-generating job with an image of its own, and the
installer is the only writer of the rules.
"""

from __future__ import annotations

from typing import Any

from greenzone.answers.model import Answers
from greenzone.values import secrets
from greenzone.values.gpu_operator import DCGM_PORT_NAME, DCGM_SERVICE_LABELS, OPERATOR_NAMESPACE

CHART_VERSION = "88.5.3"
DASHBOARD_LABEL = "grafana_dashboard"
NAMESPACE = "monitoring"


def monitoring_values(answers: Answers) -> dict[str, Any]:
    return {
        "crds": {"enabled": True},
        "alertmanager": {"enabled": False},
        "kubeControllerManager": {"enabled": False},
        "kubeScheduler": {"enabled": False},
        "kubeProxy": {"enabled": False},
        "kubeEtcd": {"enabled": False},
        "prometheusOperator": {
            "admissionWebhooks": {"enabled": False, "patch": {"enabled": False}},
            "tls": {"enabled": False},
            "resources": {"requests": {"cpu": "50m", "memory": "64Mi"}, "limits": {"memory": "256Mi"}},
        },
        "prometheus": {
            # The GPU operator's DCGM exporter, scraped by a ServiceMonitor this release owns: the
            # ServiceMonitor CRD comes with this chart, so the earlier GPU operator phase must not
            # create one (kube-prometheus-stack values: `prometheus.additionalServiceMonitors`).
            "additionalServiceMonitors": [
                {
                    "name": "greenzone-dcgm-exporter",
                    "selector": {"matchLabels": dict(DCGM_SERVICE_LABELS)},
                    "namespaceSelector": {"matchNames": [OPERATOR_NAMESPACE]},
                    "endpoints": [{"port": DCGM_PORT_NAME, "interval": "15s", "path": "/metrics"}],
                }
            ],
            "prometheusSpec": {
                "retention": "30d",
                "retentionSize": "18GB",
                # Pick up the ServiceMonitors of the GPU operator and the inference chart, whatever their labels.
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
                "resources": {"requests": {"cpu": "200m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}},
                "storageSpec": {
                    "volumeClaimTemplate": {
                        "spec": {
                            "storageClassName": "local-path",
                            "accessModes": ["ReadWriteOnce"],
                            "resources": {"requests": {"storage": "20Gi"}},
                        }
                    }
                },
            },
        },
        "grafana": {
            "admin": {
                "existingSecret": secrets.GRAFANA_ADMIN,
                "userKey": "admin-user",
                "passwordKey": "admin-password",
            },
            "defaultDashboardsEnabled": True,
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    "label": DASHBOARD_LABEL,
                    "labelValue": "1",
                    "searchNamespace": NAMESPACE,
                }
            },
            # No update checks or usage reports from an air-gapped box; no test pod needing its own image.
            "grafana.ini": {
                "analytics": {
                    "reporting_enabled": False,
                    "check_for_updates": False,
                    "check_for_plugin_updates": False,
                },
                "news": {"news_feed_enabled": False},
            },
            "testFramework": {"enabled": False},
            "ingress": {
                "enabled": True,
                "ingressClassName": "traefik",
                "hosts": [answers.network.hostname],
                "path": "/grafana",
                "tls": [{"secretName": secrets.INGRESS_TLS, "hosts": [answers.network.hostname]}],
            },
            "env": {
                "GF_SERVER_ROOT_URL": f"https://{answers.network.hostname}/grafana",
                "GF_SERVER_SERVE_FROM_SUB_PATH": "true",
            },
            "resources": {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}},
        },
    }

"""Every Helm release of an appliance, in install order, with its values: one function that the
TUI, the unattended install, `greenzone health` and `greenzone sync` all call, so they cannot
disagree about what runs where.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from greenzone.answers.model import Answers
from greenzone.values.gpu_operator import CHART_VERSION as GPU_OPERATOR_CHART
from greenzone.values.gpu_operator import gpu_operator_values
from greenzone.values.harbor import CHART_VERSION as HARBOR_CHART
from greenzone.values.harbor import harbor_values
from greenzone.values.monitoring import CHART_VERSION as MONITORING_CHART
from greenzone.values.monitoring import NAMESPACE as MONITORING_NAMESPACE
from greenzone.values.monitoring import monitoring_values
from greenzone.values.ours import INFERENCE_NAMESPACE, guardrails_values, inference_values

OUR_CHARTS = ("greenzone-inference", "greenzone-guardrails")


@dataclass(frozen=True)
class Release:
    name: str
    chart: str
    """Chart name as the lockfile and the bundle's `charts/` know it."""
    namespace: str
    values: dict[str, Any] = field(default_factory=dict)
    component: str = ""
    """The `images/<component>.txt` list this release's images belong to."""
    checked_against: str = ""
    """Chart version whose values.yaml and templates these values were checked against."""

    @property
    def ours(self) -> bool:
        return self.chart in OUR_CHARTS


@dataclass(frozen=True)
class _Spec:
    name: str
    chart: str
    namespace: str
    values: Callable[[Answers], dict[str, Any]]
    checked_against: str
    wanted: Callable[[Answers], bool] = lambda answers: True


_SPECS = (
    _Spec("gpu-operator", "gpu-operator", "gpu-operator", gpu_operator_values, GPU_OPERATOR_CHART),
    _Spec("harbor", "harbor", "harbor", harbor_values, HARBOR_CHART),
    _Spec(
        "monitoring",
        "kube-prometheus-stack",
        MONITORING_NAMESPACE,
        monitoring_values,
        MONITORING_CHART,
        lambda answers: answers.monitoring.enabled,
    ),
    _Spec("greenzone-inference", "greenzone-inference", INFERENCE_NAMESPACE, inference_values, "charts/ (ours)"),
    _Spec("greenzone-guardrails", "greenzone-guardrails", "greenzone-system", guardrails_values, "charts/ (ours)"),
)

ALL_RELEASE_NAMES = tuple(spec.name for spec in _SPECS)


def appliance_releases(answers: Answers) -> list[Release]:
    """The releases this answer file installs, in order (the GPU operator first: everything after it
    that needs a GPU waits for its device plugin; monitoring before our charts: their ServiceMonitors
    need its CRDs)."""
    return [
        Release(
            spec.name,
            spec.chart,
            spec.namespace,
            spec.values(answers),
            component=spec.name,
            checked_against=spec.checked_against,
        )
        for spec in _SPECS
        if spec.wanted(answers)
    ]


def merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's own merge of values files: maps merge key by key, everything else (lists included) is replaced."""
    merged = copy.deepcopy(dict(base))
    for key, value in overlay.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged

"""Shared helpers for chart tests: the real helm binary, renders cached by values, the k8s schemas
of the k3s version the lockfile pins."""

from __future__ import annotations

import functools
import json
import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from tests.support.paths import REPO

from greenzone.answers.model import Answers
from greenzone.bundle.lock import Lock, parse_lock
from greenzone.cluster.helm import find_helm, render
from greenzone.errors import EnvironmentProblem
from greenzone.refs import qualify

ROOT = REPO
CHARTS = ROOT / "charts"


def our_chart(name: str) -> tuple[str, str]:
    """(version, archive path inside a bundle) of one of our charts, as `helm package` names it."""
    version = str(yaml.safe_load((CHARTS / name / "Chart.yaml").read_text())["version"])
    return version, f"charts/{name}-{version}.tgz"


LOCK = ROOT / "airgap" / "bundle.lock.yaml"


@functools.cache
def helm_path() -> Path:
    """helm, looked for when a test first needs it (PATH holds the checkout's tools/bin, see conftest)."""
    try:
        return find_helm()
    except EnvironmentProblem as error:
        pytest.fail(f"{error.title}: these tests render real charts; run `bash .ci/setup` ({error.hint})")


BASE: dict[str, Any] = {
    "version": 1,
    "appliance": {"name": "matrix"},
    "network": {"hostname": "ai.matrix.local"},
    "bundle": {"path": "/srv/bundle", "public_key": "/srv/bundle.pub"},
}


def answers(**sections: Any) -> Answers:
    return Answers.model_validate({**BASE, **sections})


@functools.cache
def lock() -> Lock:
    validation = parse_lock(LOCK.read_text(), str(LOCK))
    assert validation.lock is not None, [problem.one_line() for problem in validation.problems]
    return validation.lock


def pinned_refs() -> set[str]:
    return {qualify(image.ref) for image in lock().images}


def k8s_version() -> str:
    """`v1.34.1+k3s1` in the lock -> `1.34.0`, the schema set kubernetes-validate ships for that minor."""
    (k3s,) = [item for item in lock().files if item.name == "k3s"]
    match = re.fullmatch(r"v(\d+)\.(\d+)\.\d+\+k3s\d+", k3s.version)
    assert match, f"unexpected k3s version {k3s.version}"
    return f"{match.group(1)}.{match.group(2)}.0"


@functools.cache
def _render_cached(chart: str, release: str, namespace: str, values_json: str) -> tuple[dict[str, Any], ...]:
    return tuple(render(CHARTS / chart, release, namespace, json.loads(values_json), helm=helm_path()))


def render_chart(chart: str, release: str, namespace: str, values: dict[str, Any]) -> list[dict[str, Any]]:
    """Identical values render identically, so a matrix renders each distinct set of values once."""
    return list(_render_cached(chart, release, namespace, json.dumps(values, sort_keys=True)))


CUSTOM_KINDS = {("monitoring.coreos.com/v1", "ServiceMonitor")}
"""Kinds from CRDs (the Prometheus operator's); kubernetes-validate has only built-in schemas."""


def validate(obj: dict[str, Any]) -> None:
    if (obj["apiVersion"], obj["kind"]) in CUSTOM_KINDS:
        assert obj["metadata"]["name"] and obj["spec"]["endpoints"], obj
        return
    kubernetes_validate.validate(obj, k8s_version(), strict=True)


def helm(*args: str, values: dict[str, Any] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [str(helm_path()), *args]
    if values is not None:
        command += ["--values", "-"]
    return subprocess.run(
        command, input=yaml.safe_dump(values) if values is not None else None, capture_output=True, text=True, cwd=cwd
    )

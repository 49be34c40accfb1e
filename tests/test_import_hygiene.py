"""The pure core must not pull in adapters, UI toolkits or network clients (see DESIGN.md).

Each module is imported in a fresh interpreter and the loaded modules are inspected, so an indirect
import through a helper is caught too. import-linter enforces the same contract statically in CI.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PURE_MODULES = [
    "greenzone.results",
    "greenzone.redact",
    "greenzone.yamlpos",
    "greenzone.answers",
    "greenzone.answers.validate",
    "greenzone.answers.rules",
    "greenzone.answers.example",
    "greenzone.bundle.manifest",
    "greenzone.preflight.facts_model",
    "greenzone.preflight.rules",
    "greenzone.answers.dump",
    "greenzone.deploy.plan",
    "greenzone.install.gate",
    "greenzone.install.tracker",
    "greenzone.install.events",
    "greenzone.tui.form",
    "greenzone.health.observed",
    "greenzone.health.targets",
    "greenzone.health.xid",
    "greenzone.health.host_checks",
    "greenzone.health.cluster_checks",
    "greenzone.health.registry_checks",
    "greenzone.health.inference_checks",
    "greenzone.health.zone_checks",
    "greenzone.health.metrics",
    "greenzone.sync.mirror",
    "greenzone.sync.views",
    "greenzone.sync.parity",
    "greenzone.sync.registry_checks",
    "greenzone.sync.probes",
    "greenzone.sync.markdown",
    "greenzone.deploy.workloads",
]
FORBIDDEN = [
    "textual",
    "rich",
    "ansible_runner",
    "pyhelm3",
    "pynvml",
    "kubernetes",
    "psutil",
    "requests",
    "urllib3",
    "httpx",
]


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_adapter(module: str) -> None:
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    loaded = set(
        json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    )
    assert not {name for name in FORBIDDEN if name in loaded}, f"{module} pulls in adapters"


def test_cli_help_loads_no_heavy_library() -> None:
    """`greenzone --help` must stay fast: it may not import pydantic, rich or any adapter."""
    code = (
        "import sys, json, contextlib, io\n"
        "from greenzone.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        "print(json.dumps(sorted(sys.modules)))"
    )
    loaded = set(
        json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    )
    assert not {name for name in [*FORBIDDEN, "pydantic", "yaml"] if name in loaded}

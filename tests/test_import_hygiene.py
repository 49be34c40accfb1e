"""The pure core must not pull in adapters, UI toolkits or network clients (see DESIGN.md).

Each module is imported in a fresh interpreter and the loaded modules are inspected, so an indirect
import through a helper is caught too. import-linter enforces the same contract statically in CI.
"""

from __future__ import annotations

import importlib.util
import json
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
_CONTRACT = tomllib.loads(PYPROJECT.read_text())["tool"]["importlinter"]["contracts"][0]


def _with_submodules(name: str) -> list[str]:
    """A listed package stands for every module in it, as it does for import-linter."""
    spec = importlib.util.find_spec(name)
    assert spec is not None, f"{name} (pyproject.toml's import contract) does not exist"
    if not spec.submodule_search_locations:
        return [name]
    found = pkgutil.walk_packages(spec.submodule_search_locations, prefix=f"{name}.")
    return [name, *(module.name for module in found)]


# The one list: import-linter's contract in pyproject.toml, checked here again at run time.
PURE_MODULES = sorted({module for name in _CONTRACT["source_modules"] for module in _with_submodules(name)})
FORBIDDEN = list(_CONTRACT["forbidden_modules"])


def _loaded(module: str) -> set[str]:
    code = f"import sys, json, {module}; print(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


def _forbidden(loaded: set[str], names: list[str]) -> set[str]:
    return {name for name in loaded for banned in names if name == banned or name.startswith(f"{banned}.")}


def test_the_contract_covers_the_pure_core() -> None:
    for module in (
        "greenzone.statedir",
        "greenzone.preflight.rules",
        "greenzone.preflight.node",
        "greenzone.sync.verdicts",
    ):
        assert module in PURE_MODULES
    assert "greenzone.answers.validate" in PURE_MODULES  # a listed package brings its modules


@pytest.mark.parametrize("module", PURE_MODULES)
def test_pure_module_imports_no_adapter(module: str) -> None:
    assert not _forbidden(_loaded(module), FORBIDDEN), f"{module} pulls in adapters"


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
    external = [name for name in FORBIDDEN if not name.startswith("greenzone.")]
    assert not _forbidden(loaded, [*external, "pydantic", "yaml"])


def test_the_wizards_first_screen_loads_no_models_session_or_crypto() -> None:
    """What `greenzone install` imports before the wizard's first paint (cli, the install command,
    the app with its Welcome screen, the starting state): the session, the pydantic models, the
    deploy workspace and cryptography load after it, in `GreenzoneApp.ready` (issue: speed)."""
    code = (
        "import sys, json, greenzone.cli, greenzone.commands.install, greenzone.tui.app as app;"
        "app.wizard_state(None, None); print(json.dumps(sorted(sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(json.loads(done.stdout))
    heavy = ["pydantic", "cryptography", "greenzone.answers.model", "greenzone.install.session", "greenzone.deploy"]
    assert not _forbidden(loaded, heavy)
    assert "textual.app" in loaded and "greenzone.tui.screens.welcome" in loaded

"""Shared fixtures: the real CLI with a private state dir, the fake NVML library, helm, a registry
holding the installed images. Helpers and constants live in tests/support/ (imported from there;
this file is never imported as a module)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.cli import Run
from tests.support.health import registry_with_images
from tests.support.paths import FAKE_NVML, REPO, TOOLS_BIN

# The development tools (helm, kubectl) on PATH, as `.ci/run` has them, also for a bare `pytest`.
os.environ["PATH"] = os.pathsep.join([str(TOOLS_BIN), os.environ.get("PATH", "")])


@pytest.fixture
def run_cli(tmp_path: Path) -> Run:
    """Runs `python -m greenzone` as a user would, with a private state dir."""

    def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        full_env = {
            **os.environ,
            "GREENZONE_STATE_DIR": str(tmp_path / "state"),
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
        full_env.update(env or {})
        return subprocess.run(
            [sys.executable, "-m", "greenzone", *args],
            capture_output=True,
            text=True,
            env=full_env,
            cwd=cwd or REPO,
            timeout=120,
            check=False,
        )

    return run


@pytest.fixture(scope="session")
def fake_nvml_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The fake NVIDIA driver library, built from C. Its soname is the real one, so a process that
    preloads it (the in-process TUI tests) has pynvml's `CDLL("libnvidia-ml.so.1")` find it."""
    gcc = shutil.which("gcc")
    assert gcc, "gcc is needed to build the fake NVML library (.ci/setup installs it)"
    out = tmp_path_factory.mktemp("fake-nvml")
    source = FAKE_NVML / "fake_nvml.c"
    flags = ["-shared", "-fPIC", "-O1", "-Wall", "-Werror", "-Wl,-soname,libnvidia-ml.so.1"]
    subprocess.run([gcc, *flags, "-o", str(out / "libnvidia-ml.so.1"), str(source)], check=True)
    return out


@pytest.fixture(scope="session")
def helm() -> Path:
    """The helm binary, found when a test needs it, so that without it only those tests fail, saying why."""
    from tests.support.charts import helm_path

    return helm_path()


@pytest.fixture(name="registry")
def registry_holding_images(tmp_path: Path) -> Iterator[str]:
    """A real registry holding the images an install pushed (tests/support/health.py)."""
    yield from registry_with_images(tmp_path)


# `HYPOTHESIS_PROFILE=long pytest tests/test_answers_fuzz.py` for a deeper search before a release.
from hypothesis import settings as _settings  # noqa: E402

_settings.register_profile("ci", max_examples=300, deadline=None)
_settings.register_profile("long", max_examples=5000, deadline=None)
_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

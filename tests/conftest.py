"""Shared fixtures: a valid answer document to mutate, and a way to run the real CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"

MINIMAL = """\
version: 1
appliance:
  name: test-appliance
network:
  hostname: ai.test.local
bundle:
  path: /nonexistent/bundle
  public_key: /nonexistent/bundle.pub
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


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


# `HYPOTHESIS_PROFILE=long pytest tests/test_answers_fuzz.py` for a deeper search before a release.
from hypothesis import settings as _settings  # noqa: E402

_settings.register_profile("ci", max_examples=300, deadline=None)
_settings.register_profile("long", max_examples=5000, deadline=None)
_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

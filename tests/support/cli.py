"""Running `greenzone` as a user would (the `run_cli` fixture's type), and the smallest valid answers."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

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

"""Where the checkout keeps what tests read: the examples, the fake NVIDIA driver's source and scenarios."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
FAKE_NVML = REPO / "tests" / "fixtures" / "fake_nvml"
SCENARIOS = FAKE_NVML / "scenarios"
TOOLS_BIN = REPO / "tools" / "bin"
"""helm and kubectl for development (`.ci/setup`); the product never looks here."""
LITELLM = REPO / "tools" / "litellm" / "bin" / "litellm"
"""The inference gateway's proxy at the chart's image version (`.ci/setup`), run by tests/test_gateway.py."""

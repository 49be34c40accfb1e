"""Greenzone: a private-AI appliance installer for air-gapped NVIDIA GPU servers."""

from __future__ import annotations

__version__ = "0.1.0"

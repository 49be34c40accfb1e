"""Preflight: can this machine run the requested appliance? Facts in, checks out."""

from __future__ import annotations

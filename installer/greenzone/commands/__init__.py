"""Command implementations: each takes parsed arguments and returns a `Report` or text; none prints."""

from __future__ import annotations

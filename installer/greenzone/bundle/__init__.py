"""The air-gap bundle: manifest, build, signing and verification."""

from __future__ import annotations

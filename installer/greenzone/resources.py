"""Files the package reads at run time, found where the package itself is installed.

A site installs greenzone from the bundle's wheel, far from any checkout, so nothing may be found
relative to a source tree: the playbooks, the wizard's stylesheet and the schemas are package data
(see `[tool.setuptools.package-data]`), located through `importlib.resources`.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from greenzone.errors import EnvironmentProblem


def package_path(*parts: str) -> Path:
    """A directory or file shipped inside the package, as a real path (ansible-playbook and helm need one)."""
    found = resources.files("greenzone").joinpath(*parts)
    if not isinstance(found, Path) or not found.exists():
        raise EnvironmentProblem(
            f"greenzone's own file {'/'.join(parts)} is missing from {resources.files('greenzone')}",
            hint="reinstall greenzone from its wheel (`pip install --force-reinstall greenzone-*.whl`)",
        )
    return found


def playbooks_dir() -> Path:
    return package_path("playbooks")

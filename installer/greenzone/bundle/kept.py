"""The state directory's copies of the installed bundle's files that no node or registry keeps
(`site_sources.kept_in_state`): written while a bundle is installed, so that a later delta of that
version can be made whole at the site without the base bundle's drive."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from greenzone.bundle.delta import copy_checked
from greenzone.bundle.manifest import Manifest
from greenzone.bundle.site_sources import kept_in_state
from greenzone.errors import EnvironmentProblem


def keep_installed_files(store: Path, bundle: Path, manifest: Manifest, others: Iterable[Manifest]) -> list[str]:
    """Copy `manifest`'s state-kept files from `bundle` into `store`, each named by its sha256 and
    checked while copied; drop the copies that neither `manifest` nor any of `others` lists (the
    version it replaces, and every one a rollback may still return to: the next delta may be built
    against any of them). Returns the sha256s copied. A file the bundle does not hold is left:
    install and upgrade refuse a bundle that is not whole before they get here."""
    wanted = kept_in_state(manifest)
    keep = {item.sha256 for item in wanted} | {item.sha256 for other in others for item in kept_in_state(other)}
    copied = []
    try:
        store.mkdir(mode=0o700, parents=True, exist_ok=True)
        for item in wanted:
            target = store / item.sha256
            source = bundle / item.path
            if (target.is_file() and target.stat().st_size == item.size) or not source.is_file():
                continue
            copy_checked(
                source,
                target,
                item.sha256,
                what=f"the manifest of {bundle}",
                hint=f"`greenzone bundle verify {bundle}` names each damaged file; copy the bundle again",
            )
            copied.append(item.sha256)
        for old in store.iterdir():
            if old.name not in keep:  # an older version's, or a temporary a killed run left
                old.unlink()
    except OSError as error:
        raise EnvironmentProblem(
            f"cannot keep the bundle's files in {store}: {error.strerror or error}",
            hint="free space or fix the permissions of the state directory, then run the command again",
        ) from None
    return copied

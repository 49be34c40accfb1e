"""What a sync did, in words (pure): the checks `greenzone sync` reports, beside parity's verdicts.

Kept apart from the pipeline (sync/session.py) so that the texts an operator reads are tested on
plain data, like every other verdict of the pure core.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

from greenzone.results import Check, Status, verdict

_releases = functools.partial(verdict, group="releases")


def charts_pushed(pushed: Sequence[str], present: Sequence[str], where: str) -> Check:
    return verdict(
        "charts pushed", Status.PASS, f"{len(pushed)} pushed, {len(present)} already in {where}", group="charts"
    )


def images_pushed(images: int, uploaded: int, mounted: int, skipped: int) -> Check:
    return verdict(
        "images pushed",
        Status.PASS,
        f"{images} images, digests kept; {uploaded} blobs uploaded, {mounted} mounted, {skipped} already there",
        group="images",
    )


def host_path_warning(release: str, workloads: Sequence[str]) -> Check:
    return _releases(
        f"{release}: no hostPath",
        Status.WARN,
        f"{', '.join(workloads)} mount node directories, which a managed cluster's baseline Pod Security refuses",
        "in the values overlay set modelStore.type: pvc and modelStore.bundleClaim to a PVC holding "
        "the bundle's models/",
    )


def images_not_in_bundle(release: str, missing: Sequence[str]) -> Check:
    return _releases(
        f"{release}: images",
        Status.FAIL,
        f"runs images the bundle does not hold: {', '.join(missing)}",
        "the values overlay must not change image references; add the images to the lock and rebuild",
    )


def rendered_written(releases: int, directory: str, changed: Sequence[str]) -> Check:
    what = f"{len(changed)} files changed" if changed else "nothing changed"
    return _releases("rendered manifests", Status.PASS, f"{releases} releases in {directory}; {what}")


def release_installed(release: str, action: str, reason: str) -> Check:
    detail = "up to date" if action == "none" else f"{action}ed ({reason})"
    return _releases(f"{release}: installed", Status.PASS, detail)


def release_failed(release: str, context: str, message: str) -> Check:
    return _releases(
        f"{release}: installed",
        Status.FAIL,
        f"helm failed in context {context}: {message}",
        "look at the release's pods in the cloud cluster; run sync again once fixed (it resumes)",
    )


def probes_not_run(missing: str) -> Check:
    return verdict("probe suite", Status.SKIP, f"not run: {missing} is not given", group="probes")

"""Writing `bundle.yaml`: the last step of a build, after every artifact is in place and checked.

The manifest is written atomically so that an interrupted build never leaves a bundle that looks
finished; any stale signature is removed because it no longer matches.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from greenzone import __version__
from greenzone.atomic import write_text_atomic
from greenzone.bundle.hashing import Progress, sha256_many
from greenzone.bundle.manifest import (
    MANIFEST_NAME,
    SIGNATURE_NAME,
    BundleFile,
    BundleImage,
    BundleModel,
    Component,
    Manifest,
)
from greenzone.errors import InputError

BUILD_MARKER = ".greenzone-build"  # present while a build owns the directory and is unfinished
RESERVED = {MANIFEST_NAME, SIGNATURE_NAME, BUILD_MARKER}
HARD_LINKED = "is hard-linked to another file: its bytes can change through that other name after they were checked"
HARD_LINK_FIX = "give it a name of its own: `cp --no-preserve=links` the bundle, or copy the file over itself"


@dataclass(frozen=True)
class Verified:
    """A file the build hashed as it wrote it: trusted while its size and mtime stay the same."""

    size: int
    mtime_ns: int
    sha256: str


# Files named by their content: a blob under the wrong name would be a different image layer or
# model weight than the one its manifest names, so sealing refuses one whose bytes disagree.
_CONTENT_NAMED = re.compile(r"^(?:images/blobs/sha256/|models/ollama/blobs/sha256-)([0-9a-f]{64})$")


def bundle_files(bundle_dir: Path) -> list[Path]:
    """Every regular file under the bundle except the manifest and its signature, in a stable order."""
    files = []
    for path in sorted(bundle_dir.rglob("*")):
        relative = path.relative_to(bundle_dir).as_posix()
        if relative in RESERVED or path.is_dir():
            continue
        if path.is_symlink() or not path.is_file():
            raise InputError(
                f"{path} is not a regular file",
                hint="bundles hold plain files only; replace links by the files they point to",
            )
        if path.stat().st_nlink > 1:
            raise InputError(f"{path} {HARD_LINKED}", hint=HARD_LINK_FIX)
        files.append(path)
    return files


def seal(
    bundle_dir: Path,
    *,
    product_version: str = __version__,
    components: Sequence[Component] = (),
    images: Sequence[BundleImage] = (),
    models: Sequence[BundleModel] = (),
    jobs: int | None = None,
    progress: Progress | None = None,
    verified: Mapping[str, Verified] | None = None,
    check_names: bool = False,
) -> Manifest:
    """Write `bundle.yaml` for what `bundle_dir` holds. A file in `verified` whose size and mtime
    are unchanged is not read again: the build hashed it while downloading it. `check_names`: a
    blob named by its content must hash to that name (the build trusts existing blobs by size)."""
    known: dict[str, BundleFile] = {}
    unknown: list[Path] = []
    paths = bundle_files(bundle_dir)
    for path in paths:
        relative = path.relative_to(bundle_dir).as_posix()
        seen = (verified or {}).get(relative)
        if seen and (seen.size, seen.mtime_ns) == ((stat := path.stat()).st_size, stat.st_mtime_ns):
            known[relative] = BundleFile(path=relative, size=seen.size, sha256=seen.sha256)
        else:
            unknown.append(path)
    for item in sha256_many(unknown, jobs=jobs, progress=progress):
        if item.sha256 is None:
            raise InputError(f"cannot read {item.path}: {item.error}", hint="check the file and the disk")
        relative = item.path.relative_to(bundle_dir).as_posix()
        named = _CONTENT_NAMED.match(relative)
        if check_names and named and named.group(1) != item.sha256:
            item.path.unlink()
            raise InputError(
                f"{item.path} holds bytes with sha256 {item.sha256}, not the content its name says; removed",
                hint="the disk or something else changed it after it was downloaded; run the build again, "
                "which fetches it anew",
            )
        known[relative] = BundleFile(path=relative, size=item.size, sha256=item.sha256)
    files = [known[path.relative_to(bundle_dir).as_posix()] for path in paths]
    manifest = Manifest(
        format_version=1,
        product_version=product_version,
        created=datetime.datetime.now(datetime.UTC).replace(microsecond=0).isoformat(),
        components=list(components),
        images=list(images),
        models=list(models),
        files=files,
    )
    (bundle_dir / SIGNATURE_NAME).unlink(missing_ok=True)
    write_text_atomic(bundle_dir / MANIFEST_NAME, manifest.to_yaml())
    return manifest

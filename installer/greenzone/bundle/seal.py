"""Writing `bundle.yaml`: the last step of a build, after every artifact is in place and checked.

The manifest is written atomically so that an interrupted build never leaves a bundle that looks
finished; any stale signature is removed because it no longer matches.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
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
) -> Manifest:
    paths = bundle_files(bundle_dir)
    hashed = sha256_many(paths, jobs=jobs, progress=progress)
    files = []
    for item in hashed:
        if item.sha256 is None:
            raise InputError(f"cannot read {item.path}: {item.error}", hint="check the file and the disk")
        files.append(BundleFile(path=item.path.relative_to(bundle_dir).as_posix(), size=item.size, sha256=item.sha256))
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

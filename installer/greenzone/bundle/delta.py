"""Delta bundles: a new version that carries only what its base bundle does not.

The vendor builds the new bundle as always, then `thin` leaves out every file whose path and sha256
the base's manifest lists (an image layer shared by both versions, a chart or model that did not
change), marks it `from_base`, and names the base by the sha256 of its manifest. The manifest still
lists every file and is signed as usual, so nothing the site installs is unsigned. At the site
`complete` copies the left-out files from the base bundle (which must be that exact bundle), checking
each against the signed manifest, and the bundle is whole again: `bundle verify` then checks every
file, and install and upgrade run as with any bundle. The site's bootstrap (the Python runtime, the
wheels, install.sh) is never left out: the drive must run greenzone on a bare machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from greenzone.atomic import temporary_beside
from greenzone.bundle.hashing import sha256_file
from greenzone.bundle.manifest import MANIFEST_NAME, BaseBundle, Manifest, parse_manifest
from greenzone.errors import InputError
from greenzone.textfiles import read_text

#: Components the drive's own bootstrap needs before any greenzone runs: always carried.
ALWAYS_CARRIED_KINDS = ("runtime", "wheel")
ALWAYS_CARRIED_NAMES = ("bootstrap",)


def _sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def thin(bundle_dir: Path, manifest: Manifest, base_text: str, base_source: str = "the base manifest") -> Manifest:
    """Leave out of `bundle_dir` what the base carries; returns the delta's manifest (to be written
    and signed by the caller). `base_text` is the base's `bundle.yaml`."""
    from greenzone.bundle.manifest import ManifestError

    try:
        base = parse_manifest(base_text, base_source)
    except ManifestError as error:
        raise InputError(
            f"cannot read the base bundle's manifest: {error}", hint="give the base's bundle.yaml"
        ) from None
    if base.base is not None:
        raise InputError(
            f"{base_source} is itself a delta bundle's manifest",
            hint="build against a complete bundle: the one the sites run (after `bundle complete`, its manifest is the same)",
        )
    in_base = {(item.path, item.sha256) for item in base.files}
    carried = {
        path
        for component in manifest.components
        if component.kind in ALWAYS_CARRIED_KINDS or component.name in ALWAYS_CARRIED_NAMES
        for path in component.paths
    }
    files = []
    for item in manifest.files:
        if (item.path, item.sha256) in in_base and item.path not in carried:
            (bundle_dir / item.path).unlink(missing_ok=True)
            item = item.model_copy(update={"from_base": True})
        files.append(item)
    for folder in sorted((path for path in bundle_dir.rglob("*") if path.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    reference = BaseBundle(product_version=base.product_version, manifest_sha256=_sha256_text(base_text))
    return manifest.model_copy(update={"files": files, "base": reference})


def missing_from_base(bundle_dir: Path, manifest: Manifest) -> list[str]:
    """The left-out files not (yet) in `bundle_dir`: what `complete` must bring."""
    return [item.path for item in manifest.from_base() if not (bundle_dir / item.path).is_file()]


def complete(bundle_dir: Path, manifest: Manifest, base_dir: Path) -> list[str]:
    """Copy into `bundle_dir` every left-out file from `base_dir`, each checked against the delta's
    signed manifest before it takes its name; returns the paths copied. A stop leaves only whole,
    checked files (a re-run copies the rest)."""
    if manifest.base is None:
        return []
    base_manifest = base_dir / MANIFEST_NAME
    text = read_text(base_manifest, "the base bundle's manifest")
    if _sha256_text(text) != manifest.base.manifest_sha256:
        raise InputError(
            f"{base_dir} is not the bundle this delta was built against ({manifest.base.product_version}, "
            f"manifest sha256 {manifest.base.manifest_sha256[:16]}…)",
            hint="give the directory of that exact bundle: the one the appliance was installed or last upgraded from",
        )
    copied = []
    for item in manifest.from_base():
        target = bundle_dir / item.path
        if target.is_file() and target.stat().st_size == item.size and sha256_file(target).sha256 == item.sha256:
            continue
        source = base_dir / item.path
        if not source.is_file() or sha256_file(source).sha256 != item.sha256:
            raise InputError(
                f"{source} is missing or differs from what the signed manifest says",
                hint="the base bundle is damaged: `greenzone bundle verify` on it names each file; copy it again",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        with temporary_beside(target) as (fd, temporary):
            os.close(fd)
            shutil.copyfile(source, temporary)
            temporary.chmod(source.stat().st_mode & 0o777)
            temporary.replace(target)
        copied.append(item.path)
    return copied

"""Delta bundles: a new version that carries only what its base bundle does not.

The vendor builds the new bundle as always, then `thin` leaves out every file whose path and sha256
the base's manifest lists (an image layer shared by both versions, a chart or model that did not
change), marks it `from_base`, and names the base by its manifest's canonical digest (the manifest as
its whole bundle's: a site that got that version whole and one that completed a delta of it have the
same). The manifest still lists every file and is signed as usual, so nothing the site installs is
unsigned. At the site `complete` checks the delta's signature, then copies the left-out files from the
base bundle (which must be that version), hashing each while it copies and giving it its name only
when it matches the signed manifest; the bundle is whole again: `bundle verify` then checks every
file, and install and upgrade run as with any bundle. The site's bootstrap (the Python runtime, the
wheels, install.sh) is never left out: the drive must run greenzone on a bare machine.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from greenzone.atomic import temporary_beside
from greenzone.bundle.manifest import MANIFEST_NAME, BaseBundle, Manifest, ManifestError, parse_manifest
from greenzone.errors import InputError
from greenzone.textfiles import read_text

#: Components the drive's own bootstrap needs before any greenzone runs: always carried.
ALWAYS_CARRIED_KINDS = ("runtime", "wheel")
ALWAYS_CARRIED_NAMES = ("bootstrap",)
CHUNK = 4 * 2**20


def _base_manifest(base: Path) -> tuple[Path, Manifest]:
    """The base's manifest, given its bundle directory or its bundle.yaml."""
    path = base / MANIFEST_NAME if base.is_dir() else base
    text = read_text(path, "the base bundle's manifest")
    try:
        return path, parse_manifest(text, str(path))
    except ManifestError as error:
        raise InputError(
            f"cannot read the base bundle's manifest: {error}", hint="give the base's bundle.yaml"
        ) from None


def delta_manifest(manifest: Manifest, base: Path) -> Manifest:
    """`manifest` as a delta of `base` (its directory or bundle.yaml): every file whose path and sha256
    the base lists marked `from_base`, the bootstrap aside, and the base named by its digest."""
    _, base_manifest = _base_manifest(base)
    in_base = {(item.path, item.sha256) for item in base_manifest.files}
    carried = {
        path
        for component in manifest.components
        if component.kind in ALWAYS_CARRIED_KINDS or component.name in ALWAYS_CARRIED_NAMES
        for path in component.paths
    }
    files = [
        item.model_copy(update={"from_base": True})
        if (item.path, item.sha256) in in_base and item.path not in carried
        else item
        for item in manifest.files
    ]
    reference = BaseBundle(
        product_version=base_manifest.product_version, manifest_sha256=base_manifest.canonical_digest()
    )
    return manifest.model_copy(update={"files": files, "base": reference})


def thin(bundle_dir: Path, manifest: Manifest, base: Path) -> Manifest:
    """Leave out of `bundle_dir` what the base carries; returns the delta's manifest (to be written
    and signed by the caller). `base` is the base bundle's directory or its bundle.yaml."""
    delta = delta_manifest(manifest, base)
    for item in delta.from_base():
        (bundle_dir / item.path).unlink(missing_ok=True)
    for folder in sorted((path for path in bundle_dir.rglob("*") if path.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()
    return delta


def copy_carried(full: Path, delta: Manifest, staged: Path) -> int:
    """Into `staged`, what a delta carries, from the whole bundle `full` it was made of, each file
    hashed while copied against the signed manifest (a damaged full bundle is named, not shipped);
    returns the bytes copied. `bundle delta` makes a delta of a bundle already built, without a
    second download."""
    copied = 0
    for item in delta.files:
        if item.from_base:
            continue
        source = full / item.path
        if not source.is_file() or source.is_symlink():
            raise InputError(
                f"{source} is missing from the bundle {full}",
                hint="`greenzone bundle verify` on it names every missing or damaged file; rebuild or copy it again",
            )
        target = inside(staged, item.path)
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_checked(
            source,
            target,
            item.sha256,
            what=f"the manifest of {full}",
            hint=f"{full} is damaged: `greenzone bundle verify` on it names each file; rebuild or copy it again",
        )
        copied += item.size
    return copied


#: Where the completion from the site gathers the nodes' files inside the bundle before they take their names.
COMPLETION_STAGING = ".greenzone-site-files"


def completion_leftover(relative: str, left_out: set[str]) -> bool:
    """Whether an unlisted file is what a stopped completion leaves (and the next one resumes or
    removes): a download's `.part`, a copy's hidden temporary, the staging folder's content; each
    beside or for a file the delta leaves out."""
    if relative.startswith(COMPLETION_STAGING + "/"):
        return True
    if relative.endswith(".part") and relative.removesuffix(".part") in left_out:
        return True
    folder, _, name = relative.rpartition("/")
    if name.startswith(".") and name.endswith(".tmp"):
        inner = name[1:-4]
        listed = inner[: inner.rfind(".")] if "." in inner else ""
        return (f"{folder}/{listed}" if folder else listed) in left_out
    return False


def remove_leftovers(bundle_dir: Path, manifest: Manifest) -> None:
    """Remove what a stopped completion left: once the delta is whole, all of it (the staging folder
    too); before, all but a regular `.part`, whose download resumes (a link in its place could turn
    that into a write elsewhere)."""
    left_out = {item.path for item in manifest.from_base()}
    whole = not missing_from_base(bundle_dir, manifest)
    for path in bundle_dir.rglob("*"):
        relative = path.relative_to(bundle_dir).as_posix()
        if (path.is_dir() and not path.is_symlink()) or not completion_leftover(relative, left_out):
            continue
        if whole or not (relative.endswith(".part") and path.is_file() and not path.is_symlink()):
            path.unlink(missing_ok=True)
    if whole:
        shutil.rmtree(bundle_dir / COMPLETION_STAGING, ignore_errors=True)


def missing_from_base(bundle_dir: Path, manifest: Manifest) -> list[str]:
    """The left-out files not (yet) in `bundle_dir`: what `complete` must bring."""
    return [item.path for item in manifest.from_base() if not (bundle_dir / item.path).is_file()]


def inside(bundle_dir: Path, relative: str) -> Path:
    """Where a listed file goes, refused when a link on the way would take it out of the bundle."""
    root = bundle_dir.resolve()
    target = bundle_dir / relative
    parent = target.parent.resolve()
    if (parent != root and root not in parent.parents) or target.is_symlink():
        raise InputError(
            f"{target} lies behind a link out of the bundle",
            hint="copy the delta again from the vendor's medium; a bundle holds no links",
        )
    return target


def copy_checked(
    source: Path,
    target: Path,
    sha256: str,
    *,
    what: str = "the delta's signed manifest",
    hint: str = "the base bundle is damaged: `greenzone bundle verify` on it names each file; copy it again",
) -> None:
    """One read of the source: written to a temporary beside the target and hashed on the way; the
    target gets its name only when the bytes are the signed ones."""
    digest = hashlib.sha256()
    with temporary_beside(target) as (fd, temporary), source.open("rb") as reader:
        with os.fdopen(fd, "wb", closefd=True) as writer:
            while chunk := reader.read(CHUNK):
                digest.update(chunk)
                writer.write(chunk)
        if digest.hexdigest() != sha256:
            temporary.unlink(missing_ok=True)
            raise InputError(f"{source} differs from what {what} says", hint=hint)
        temporary.chmod(source.stat().st_mode & 0o777)
        temporary.replace(target)


def complete(bundle_dir: Path, manifest: Manifest, base: Path) -> list[str]:
    """Copy into `bundle_dir` every left-out file from the base bundle, each hashed while copied and
    named only when it matches; returns the paths copied. The caller checked the delta's signature.
    A stop leaves only whole, checked files (a re-run copies the rest)."""
    from greenzone.bundle.hashing import sha256_file

    if manifest.base is None:
        return []
    base_manifest_path, base_manifest = _base_manifest(base)
    base_dir = base_manifest_path.parent
    if base_manifest.canonical_digest() != manifest.base.manifest_sha256:
        raise InputError(
            f"{base_dir} holds greenzone {base_manifest.product_version}, not the bundle this delta was built against "
            f"({manifest.base.product_version}, manifest digest {manifest.base.manifest_sha256[:16]}…)",
            hint="give the directory of that bundle: the one the appliance was installed or last upgraded from",
        )
    copied = []
    for item in manifest.from_base():
        target = inside(bundle_dir, item.path)
        if target.is_file() and target.stat().st_size == item.size and sha256_file(target).sha256 == item.sha256:
            continue
        source = base_dir / item.path
        if not source.is_file():
            raise InputError(
                f"{source} is missing from the base bundle",
                hint="the base bundle is incomplete: `greenzone bundle verify` on it names each file; copy it again",
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        copy_checked(source, target, item.sha256)
        copied.append(item.path)
    remove_leftovers(bundle_dir, manifest)
    return copied

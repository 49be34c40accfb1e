"""`bundle verify`: every file re-hashed against the signed manifest; each problem named.

Order matters: the signature is checked over the exact bytes of `bundle.yaml` before its list of
files is trusted, so an attacker who edits the manifest to match altered files is caught.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from greenzone.bundle.delta import completion_leftover
from greenzone.bundle.hashing import Progress, sha256_many
from greenzone.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, Manifest, ManifestError, parse_manifest
from greenzone.bundle.seal import HARD_LINK_FIX, HARD_LINKED
from greenzone.bundle.sign import load_public_key, signature_matches
from greenzone.errors import InputError
from greenzone.results import Check, Report, Status
from greenzone.textfiles import decode

GiB = 1024**3


def _fail(name: str, detail: str, remedy: str, location: str = "") -> Check:
    return Check(name, Status.FAIL, detail, remedy, "bundle", location)


def signature_check(bundle_dir: Path, manifest_bytes: bytes, key: Ed25519PublicKey, public_key: Path) -> Check:
    signature = bundle_dir / SIGNATURE_NAME
    if signature.exists() and not signature.is_file():
        return _fail(
            "signature",
            f"{SIGNATURE_NAME} is a directory (or another non-file), not a signature",
            f"replace {signature} with the {SIGNATURE_NAME} file from the vendor's bundle",
            str(signature),
        )
    if not signature.is_file():
        return _fail(
            "signature",
            f"{SIGNATURE_NAME} is missing: the bundle is unsigned",
            "ask the vendor for a signed bundle (`greenzone bundle sign`); never install an unsigned one",
            str(signature),
        )
    if not signature_matches(key, manifest_bytes, signature.read_bytes()):
        return _fail(
            "signature",
            f"{SIGNATURE_NAME} does not match {MANIFEST_NAME} for key {public_key}",
            "the manifest was changed after signing or the key is wrong: get the bundle and key again from the vendor",
            str(signature),
        )
    return Check("signature", Status.PASS, f"ed25519 signature valid for {public_key}", group="bundle")


def total_bytes(manifest: Manifest) -> int:
    return sum(item.size for item in manifest.files)


def read_signed_manifest(bundle_dir: Path) -> tuple[bytes, Manifest]:
    path = bundle_dir / MANIFEST_NAME
    raw = path.read_bytes()
    try:
        text = decode(raw, str(path), "a bundle manifest")
    except InputError as error:
        raise ManifestError(error.title) from None
    return raw, parse_manifest(text, str(path))


def verify_bundle(
    bundle_dir: Path,
    public_key: Path,
    *,
    jobs: int | None = None,
    progress: Progress | None = None,
    on_total: Callable[[int], None] | None = None,
    whole: bool = True,
) -> Report:
    """`on_total` learns the bytes to hash as soon as the manifest is read (to size a progress bar).
    A delta bundle's left-out files (`from_base`) are not missing: they are named in one check, which
    fails when `whole` (install and upgrade need every file) and warns otherwise (`bundle verify`)."""
    key = load_public_key(public_key)  # a wrong key file is the user's input error, whatever the bundle
    manifest_path = bundle_dir / MANIFEST_NAME
    if not bundle_dir.is_dir():
        return Report(
            "bundle verify", (_fail("bundle", f"{bundle_dir} is not a directory", "give the bundle directory"),)
        )
    try:
        raw, manifest = read_signed_manifest(bundle_dir)
    except FileNotFoundError:
        return Report(
            "bundle verify",
            (_fail("manifest", f"{MANIFEST_NAME} is missing", "this is not a (complete) bundle", str(manifest_path)),),
        )
    except (ManifestError, UnicodeDecodeError, OSError) as error:
        return Report(
            "bundle verify",
            (
                _fail(
                    "manifest", f"{MANIFEST_NAME} cannot be read: {error}", "get the bundle again", str(manifest_path)
                ),
            ),
        )
    left_out = {item.path for item in manifest.from_base() if not (bundle_dir / item.path).exists()}
    if on_total:
        on_total(total_bytes(manifest) - sum(item.size for item in manifest.files if item.path in left_out))
    checks = [signature_check(bundle_dir, raw, key, public_key)]

    expected = {item.path: item for item in manifest.files}
    from_base = {item.path for item in manifest.from_base()}
    present: set[str] = set()
    refused: set[str] = set()
    leftovers: list[str] = []
    for path in sorted(bundle_dir.rglob("*")):
        relative = path.relative_to(bundle_dir).as_posix()
        if relative in (MANIFEST_NAME, SIGNATURE_NAME) or (path.is_dir() and not path.is_symlink()):
            continue
        present.add(relative)
        if (
            not whole  # install and upgrade take a bundle only once a completion removed these
            and relative not in expected
            and completion_leftover(relative, from_base)
            and path.is_file()
            and not path.is_symlink()
            and path.stat().st_nlink == 1
        ):
            leftovers.append(relative)
        elif relative not in expected:
            checks.append(
                _fail(
                    relative,
                    "extra file: not listed in the signed manifest",
                    "remove it; a bundle holds only what its manifest lists",
                    str(path),
                )
            )
        elif path.is_symlink() or not path.is_file():
            checks.append(
                _fail(relative, "not a regular file (a link or device)", "replace it by the real file", str(path))
            )
            present.discard(relative)
        elif path.stat().st_nlink > 1:
            checks.append(_fail(relative, HARD_LINKED, HARD_LINK_FIX, str(path)))
            present.discard(relative)
            refused.add(relative)
    to_hash = [name for name in expected if name in present]
    for name in expected:
        if name in left_out:
            continue
        if name not in present and name not in refused and not (bundle_dir / name).is_symlink():
            checks.append(
                _fail(name, "missing", "copy the bundle again; the file did not arrive", str(bundle_dir / name))
            )
    results = sha256_many([bundle_dir / name for name in to_hash], jobs=jobs, progress=progress)
    good = 0
    for name, result in zip(to_hash, results, strict=True):
        want = expected[name]
        location = str(bundle_dir / name)
        if result.sha256 is None:
            checks.append(
                _fail(name, f"cannot be read: {result.error}", "check the medium and copy it again", location)
            )
        elif result.size < want.size:
            checks.append(
                _fail(name, f"truncated: {result.size} of {want.size} bytes", "copy the file again", location)
            )
        elif result.size > want.size:
            checks.append(
                _fail(name, f"grown: {result.size} bytes, {want.size} expected", "copy the file again", location)
            )
        elif result.sha256 != want.sha256:
            checks.append(
                _fail(
                    name,
                    f"altered: sha256 {result.sha256[:16]}…, manifest says {want.sha256[:16]}…",
                    "the file was changed or damaged: copy it again from the vendor's medium",
                    location,
                )
            )
        else:
            good += 1
    size = total_bytes(manifest)
    carried = len(expected) - len(left_out)
    checks.insert(
        1,
        Check(
            "files",
            Status.PASS if good == carried else Status.FAIL,
            f"{good} of {carried} files ({size / GiB:.2f} GiB in all) match the manifest",
            "" if good == carried else "see the files named below",
            "bundle",
        ),
    )
    if left_out and manifest.base is not None:
        checks.insert(2, _delta_check(bundle_dir, manifest, left_out, whole))
    if leftovers:
        checks.append(
            Check(
                "completion",
                Status.WARN,
                f"{len(leftovers)} partial file(s) of a completion that stopped, e.g. {leftovers[0]}",
                "`greenzone upgrade` or `greenzone bundle complete` on it resumes and then removes them; nothing "
                "installs a bundle before",
                "bundle",
            )
        )
    return Report(
        "bundle verify",
        tuple(checks),
        data={"product_version": manifest.product_version, "files": len(expected), "bytes": size},
        title=f"Bundle {bundle_dir} (greenzone {manifest.product_version})",
    )


def _delta_check(bundle_dir: Path, manifest: Manifest, left_out: set[str], whole: bool) -> Check:
    assert manifest.base is not None
    size = sum(item.size for item in manifest.files if item.path in left_out)
    base = f"{manifest.base.product_version} (manifest sha256 {manifest.base.manifest_sha256[:16]}…)"
    return Check(
        "delta",
        Status.FAIL if whole else Status.WARN,
        f"a delta bundle: {len(left_out)} files ({size / GiB:.2f} GiB) come from the base bundle {base}",
        "`greenzone upgrade` on the appliance that runs the base brings them from it (Harbor, the nodes, the "
        f"state directory), as does `greenzone bundle complete {bundle_dir} --key KEY.pub` there; "
        "`--base BASE_DIR` copies them from that bundle's directory instead; each is checked against this manifest",
        "bundle",
    )

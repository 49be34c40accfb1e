"""`greenzone bundle keygen|sign|verify|inspect`."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from greenzone.atomic import publish_directory, refuse_directory, staged_directory, write_bytes_atomic
from greenzone.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, Manifest, ManifestError
from greenzone.bundle.pack import checksums_path
from greenzone.bundle.sign import keygen as make_keys
from greenzone.bundle.sign import load_private_key, sign_bytes
from greenzone.bundle.verify import read_signed_manifest, verify_bundle
from greenzone.errors import InputError
from greenzone.progress import byte_progress
from greenzone.results import Report, Status

if TYPE_CHECKING:
    from greenzone.bundle.build import BuildResult
    from greenzone.bundle.lock import LockValidation


def keygen(args: argparse.Namespace) -> str:
    private = Path(args.out)
    public = private.with_name(private.name + ".pub")
    refuse_directory(private, "--out (the private key)")
    make_keys(private, public)
    from greenzone.bundle.sign import fingerprint

    return (
        f"private key: {private} (mode 0600, keep it off the bundle)\n"
        f"public key:  {public} (ship it to sites)\n"
        f"key sha256 {fingerprint(public)} (tell sites this out of band: the bootstrap's --key-sha256)\n"
    )


def _sign(bundle_dir: Path, key: Path) -> Path:
    """Sign `bundle_dir`'s manifest exactly as read from disk; returns the signature's path."""
    manifest = bundle_dir / MANIFEST_NAME
    try:
        raw, _ = read_signed_manifest(bundle_dir)
    except FileNotFoundError:
        raise InputError(
            f"{manifest} does not exist", hint="build the bundle first (`greenzone bundle build`)"
        ) from None
    except ManifestError as error:
        raise InputError(str(error), hint="rebuild the bundle; its manifest is damaged") from None
    write_bytes_atomic(bundle_dir / SIGNATURE_NAME, sign_bytes(load_private_key(key), raw))
    return bundle_dir / SIGNATURE_NAME


def sign(args: argparse.Namespace) -> str:
    signature = _sign(args.bundle, args.key)
    return f"signed {args.bundle / MANIFEST_NAME} -> {signature}\n"


def verify(args: argparse.Namespace) -> Report:
    if not args.bundle.exists():
        raise InputError(
            f"{args.bundle} does not exist",
            hint="give the bundle directory, or the .sha256 list (or any part) written by `bundle pack`",
        )
    if args.bundle.is_file():
        return _verify_parts(args)
    with byte_progress("verifying") as meter:
        return verify_bundle(
            args.bundle, args.key, jobs=args.jobs, progress=meter.advance, on_total=meter.start, whole=False
        )


def _verify_parts(args: argparse.Namespace) -> Report:
    """Media from `bundle pack`: check every part, unpack them, then verify the bundle they hold."""
    from dataclasses import replace

    from greenzone.bundle.pack import check_parts, checksums_path, read_checksums, tar_of, unpack

    listing = checksums_path(tar_of(args.bundle))
    parts = read_checksums(listing)
    total = sum(part.path.stat().st_size for part in parts if part.path.is_file())
    with byte_progress("checking parts", total) as meter:
        part_checks = check_parts(parts, meter.advance)
    bad = [check for check in part_checks if check.status.value == "fail"]
    if bad:
        return Report("bundle verify", tuple(part_checks), title="parts damaged; nothing was unpacked")
    dest = args.unpack_to or listing.with_name(listing.name.removesuffix(".sha256").removesuffix(".tar"))
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise InputError(
            f"{dest} already exists and is {'not empty' if dest.is_dir() else 'not a directory'}",
            hint="remove it, or give another directory with --unpack-to",
        )
    with staged_directory(dest) as staged:
        unpack(parts, staged)
        with byte_progress("verifying") as meter:
            report = verify_bundle(
                staged, args.key, jobs=args.jobs, progress=meter.advance, on_total=meter.start, whole=False
            )
        # Checked where it was unpacked, reported where it will be: the same files under their final name.
        checks = tuple(
            replace(check, location=check.location.replace(str(staged), str(dest))) for check in report.checks
        )
        if report.status is Status.FAIL:  # a delta's warning (its base's files) still unpacks
            return replace(
                report,
                checks=(*part_checks, *checks),
                title=f"the unpacked bundle does not verify; nothing was kept in {dest}",
            )
        publish_directory(staged, dest)
    return replace(report, checks=(*part_checks, *checks), data={**report.data, "unpacked_to": str(dest)})


def inspect(args: argparse.Namespace) -> str:
    import json

    from greenzone.bundle.inspect import inspect_bundle

    try:
        info = inspect_bundle(args.bundle)
    except ManifestError as error:
        raise InputError(str(error), hint="point at a bundle directory (the one holding bundle.yaml)") from None
    if args.json:
        return json.dumps(info, indent=2)
    gib = 1024**3
    lines = [
        f"bundle {args.bundle}: greenzone {info['product_version']}, created {info['created'] or 'unknown'}",
        f"  {info['files']} files, {info['bytes'] / gib:.2f} GiB",
        "components:",
        *(f"  {c['name']:<28} {c['version']:<16} {c['kind']}" for c in info["components"]),
        "images:",
        *(
            f"  {i['ref']}  {i['digest'][:19]}  "
            + (f"{i['bytes'] / 2**20:.1f} MiB" if i["bytes"] is not None else "(in the base bundle)")
            for i in info["images"]
        ),
    ]
    delta = info["delta"]
    if delta:
        carried = delta["carried_bytes"] / max(1, info["bytes"])
        lines.insert(
            2,
            f"  a delta of {delta['base']}: carries {delta['carried_files']} files, {delta['carried_bytes'] / gib:.2f} GiB "
            f"({carried:.1%} of the whole bundle); {delta['from_base_files']} files, "
            f"{delta['from_base_bytes'] / gib:.2f} GiB come from the base (`bundle complete`)",
        )
    saved = info["images_bytes_separate"] - info["images_bytes_stored"]
    if info["images_bytes_stored"]:
        lines.append(
            f"  stored once: {info['images_bytes_stored'] / 2**20:.1f} MiB instead of "
            f"{info['images_bytes_separate'] / 2**20:.1f} MiB as separate archives (shared layers save {saved / 2**20:.1f} MiB)"
        )
    lines.append("models:")
    lines.extend(
        f"  {m['name']:<36} {m['engine']:<7} {m['size_bytes'] / gib:.1f} GiB on disk, needs {m['vram_bytes'] / gib:.1f} GiB GPU memory"
        for m in info["models"]
    )
    return "\n".join(lines) + "\n"


def read_lock(path: Path) -> tuple[str, LockValidation]:
    from greenzone.bundle.lock import parse_lock
    from greenzone.textfiles import read_text

    text = read_text(path, "a bundle lock file (e.g. airgap/bundle.lock.yaml)")
    validation = parse_lock(text, str(path))
    if not validation.ok:
        raise InputError(
            f"{path} is not a valid lock file",
            hint="fix each problem listed; the lock's schema is installer/greenzone/schemas/bundle-lock.schema.json",
            details=[problem.one_line() for problem in validation.problems],
        )
    return text, validation


def lock(args: argparse.Namespace) -> str:
    from greenzone.bundle.lock import unresolved, unresolved_problems
    from greenzone.bundle.registry import load_auths
    from greenzone.bundle.resolve import update_lock

    _, validation = read_lock(args.lock)
    if not args.update:
        problems = unresolved_problems(validation)
        if problems:
            raise InputError(
                f"{args.lock} is valid but {len(problems)} pins are unresolved",
                hint="run `greenzone bundle lock --update` on a connected machine",
                details=[problem.one_line() for problem in problems],
            )
        return f"{args.lock}: valid, every artifact pinned\n"
    pins = unresolved(validation.lock) if validation.lock else []
    if not pins:
        return f"{args.lock}: nothing to resolve, every artifact is already pinned (no change)\n"
    with byte_progress("resolving pins") as meter:
        filled = update_lock(args.lock, validation, load_auths(args.auth), progress=meter.advance)
    from greenzone.yamlpos import format_path

    return (
        "".join(f"{format_path(path)}: {value}\n" for path, value in filled.items())
        + f"{len(filled)} pins written to {args.lock}\n"
    )


def build(args: argparse.Namespace) -> str:
    from greenzone.bundle.build import BuildOptions, build_bundle
    from greenzone.bundle.lock import unresolved_problems

    if args.split and not args.tar:
        raise InputError(
            "--split cuts the tar written by --tar", hint="add --tar FILE, e.g. --tar /media/usb/bundle.tar"
        )
    _, validation = read_lock(args.lock)
    problems = unresolved_problems(validation)
    if problems:
        raise InputError(
            f"{args.lock} has {len(problems)} unresolved pins; a bundle is only built from pinned bytes",
            hint="run `greenzone bundle lock --update` on a connected machine first",
            details=[problem.one_line() for problem in problems],
        )
    assert validation.lock is not None
    options = BuildOptions(
        lock_file=args.lock,
        out=args.out,
        helm=args.helm,
        auth_file=args.auth,
        pip_args=list(args.pip_arg or []),
        jobs=args.jobs,
        progress_for=lambda step: byte_progress(step),
    )
    if args.base is not None:
        _refuse_base_inside(args.base, args.out)
    result = build_bundle(validation.lock, options)
    if args.base is not None:
        result = _thin(args.out, result, args.base)
    lines = [
        f"built {args.out}: {len(result.manifest.files)} files, "
        f"{sum(f.size for f in result.manifest.files) / 2**20:.1f} MiB, "
        f"{len(result.manifest.images)} images, {len(result.manifest.models)} models",
        f"  downloads: {result.downloaded} fetched, {result.reused} already complete and correct (kept)",
    ]
    if result.removed:
        lines.append(f"  removed {len(result.removed)} files the lock no longer names")
    if args.sign_key:
        lines.append(f"  signed: {_sign(args.out, args.sign_key)}")
    if args.tar:
        parts = _pack(args.out, args.tar, args.split)
        lines.append(f"  packed: {len(parts)} part(s), list in {checksums_path(args.tar)}")
    return "\n".join(lines) + "\n"


def _refuse_base_inside(base: Path, out: Path) -> None:
    """The base must outlive the build: thinning deletes from --out what the base lists."""
    from greenzone.bundle.delta import _base_manifest

    where = _base_manifest(base)[0].resolve()
    if out.resolve() == where.parent or out.resolve() in where.parents:
        raise InputError(
            f"--base {base} lies inside --out {out}: the delta would delete the base's own files",
            hint="keep the bundle the sites run in a directory of its own and build the delta into a new one",
        )


def _thin(out: Path, result: BuildResult, base: Path) -> BuildResult:
    """The built bundle as a delta of the base: the files the base carries left out, the manifest
    rewritten (before it is signed) to say which and against which base."""
    from dataclasses import replace

    from greenzone.atomic import write_text_atomic
    from greenzone.bundle.delta import thin

    manifest = thin(out, result.manifest, base)
    write_text_atomic(out / MANIFEST_NAME, manifest.to_yaml())
    return replace(result, manifest=manifest)


def _checked_manifest(bundle: Path, key: Path | None, which: str, unchanged: str) -> Manifest:
    """`bundle`'s manifest, its signature checked first when a key is given."""
    from greenzone.bundle.sign import load_public_key
    from greenzone.bundle.verify import signature_check

    public = load_public_key(key) if key is not None else None
    try:
        raw, manifest = read_signed_manifest(bundle)
    except (OSError, ManifestError) as error:
        raise InputError(f"cannot read {bundle / MANIFEST_NAME}: {error}", hint=f"give {which}") from None
    if public is not None and key is not None:
        signed = signature_check(bundle, raw, public, key)
        if signed.status is not Status.PASS:
            raise InputError(
                f"{bundle}'s manifest does not verify with {key}: {signed.detail}; {unchanged}",
                hint=signed.remedy or "copy the bundle again from the vendor's medium",
            )
    return manifest


def delta(args: argparse.Namespace) -> str:
    from greenzone.atomic import write_text_atomic
    from greenzone.bundle.delta import copy_carried, delta_manifest

    manifest = _checked_manifest(args.full, args.key, "the whole new bundle's directory", "nothing was written")
    if manifest.base is not None:
        raise InputError(
            f"{args.full} is itself a delta (of {manifest.base.product_version})",
            hint="make the delta from the whole bundle: `bundle complete` makes this one whole first",
        )
    if args.out.exists() and not (args.out.is_dir() and not any(args.out.iterdir())):
        raise InputError(
            f"{args.out} already exists and is not empty",
            hint="give a new or empty directory: the delta is written whole or not at all",
        )
    load_private_key(args.sign_key)  # a wrong key is said before anything is copied
    made = delta_manifest(manifest, args.base)
    carried = [item for item in made.files if not item.from_base]
    with staged_directory(args.out) as staged:
        copied = copy_carried(args.full, made, staged)
        write_text_atomic(staged / MANIFEST_NAME, made.to_yaml())
        _sign(staged, args.sign_key)
        publish_directory(staged, args.out)
    whole = sum(item.size for item in made.files)
    assert made.base is not None
    return (
        f"delta {args.out}: carries {len(carried)} of {len(made.files)} files, {copied / 2**20:.1f} MiB "
        f"({copied / whole if whole else 0:.1%} of the whole bundle); {len(made.files) - len(carried)} come from "
        f"{made.base.product_version} (`bundle complete` at the site)\n  signed: {args.out / SIGNATURE_NAME}\n"
    )


def complete(args: argparse.Namespace) -> str:
    from greenzone.bundle.delta import complete as complete_delta

    manifest = _checked_manifest(args.bundle, args.key, "the delta bundle's directory", "nothing was copied")
    if manifest.base is None:
        return f"{args.bundle} is a whole bundle (not a delta): nothing to complete\n"
    if args.base is None:
        return _complete_from_site(args, manifest)
    copied = complete_delta(args.bundle, manifest, args.base)
    total = len(manifest.from_base())
    return (
        f"completed {args.bundle} from {args.base}: {len(copied)} of {total} files copied"
        f" ({total - len(copied)} already there), each hashed while copied against the signed manifest\n"
        f"  next: `greenzone bundle verify {args.bundle} --key {args.key}` checks every file\n"
    )


def _complete_from_site(args: argparse.Namespace, manifest: Manifest) -> str:
    """The delta made whole from the appliance this state directory belongs to: what `upgrade` does
    as it starts, on its own (to verify the whole bundle first, or to keep it as the next base)."""
    from greenzone.health.targets import parse_endpoints
    from greenzone.statedir import StateDir
    from greenzone.statelock import changing
    from greenzone.upgrade.from_site import SiteCopy
    from greenzone.upgrade.session import installed_appliance

    state = StateDir.locate(args.state_dir)
    answers, installed = installed_appliance(state)
    site = SiteCopy(state, answers, args.bundle.resolve(), manifest, installed, parse_endpoints(args.endpoint or []))
    other = site.base_problem()
    if other:
        raise InputError(
            f"{args.bundle} is {other} ({state})",
            hint="give --base with the directory of the delta's base bundle, or ask the vendor for a delta of "
            f"{installed.product_version} or the whole bundle",
        )
    total = len(manifest.from_base())
    with changing(state, "bundle complete"):  # it writes the inventory, and an upgrade brings the same files
        brought = site.bring()
    return (
        f"completed {args.bundle} from this appliance: {total - len(brought.found)} of {total} files were there, "
        f"brought {brought.summary()}; each hashed against the signed manifest\n"
        f"  next: `greenzone bundle verify {args.bundle} --key {args.key}` checks every file\n"
    )


def _pack(bundle_dir: Path, tar: Path, split: str | None, key: Path | None = None) -> list[Path]:
    from greenzone.bundle.pack import pack as pack_bundle
    from greenzone.bundle.pack import parse_size

    size = parse_size(split) if split else None
    with byte_progress("packing") as meter:
        return pack_bundle(bundle_dir, tar, split=size, progress=meter.advance, public_key=key)


def pack(args: argparse.Namespace) -> str:
    parts = _pack(args.bundle, args.out, args.split, args.key)
    listing = checksums_path(args.out)
    names = ", ".join(part.name for part in parts)
    signed = f"signature checked with {args.key}" if args.key else "signature not checked (give --key to check it)"
    return (
        f"wrote {names}\nchecksums: {listing} (check on any machine with `sha256sum -c`)\n"
        f"every file matched the manifest while packed; {signed}\n"
    )

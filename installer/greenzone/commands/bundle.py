"""`greenzone bundle keygen|sign|verify|inspect`."""

from __future__ import annotations

import argparse
from pathlib import Path

from greenzone.atomic import write_bytes_atomic
from greenzone.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, ManifestError
from greenzone.bundle.sign import keygen as make_keys
from greenzone.bundle.sign import load_private_key, sign_bytes
from greenzone.bundle.verify import read_signed_manifest, verify_bundle
from greenzone.errors import InputError
from greenzone.progress import byte_progress
from greenzone.results import Report


def keygen(args: argparse.Namespace) -> str:
    private = Path(args.out)
    public = private.with_name(private.name + ".pub")
    make_keys(private, public)
    return f"private key: {private} (mode 0600, keep it off the bundle)\npublic key:  {public} (ship it to sites)\n"


def sign(args: argparse.Namespace) -> str:
    manifest = args.bundle / MANIFEST_NAME
    try:
        raw, _ = read_signed_manifest(args.bundle)
    except FileNotFoundError:
        raise InputError(
            f"{manifest} does not exist", hint="build the bundle first (`greenzone bundle build`)"
        ) from None
    except ManifestError as error:
        raise InputError(str(error), hint="rebuild the bundle; its manifest is damaged") from None
    signature = sign_bytes(load_private_key(args.key), raw)
    write_bytes_atomic(args.bundle / SIGNATURE_NAME, signature)
    return f"signed {manifest} -> {args.bundle / SIGNATURE_NAME}\n"


def verify(args: argparse.Namespace) -> Report:
    with byte_progress("verifying") as meter:
        return verify_bundle(args.bundle, args.key, jobs=args.jobs, progress=meter.advance, on_total=meter.start)


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
        *(f"  {i['ref']}  {i['digest'][:19]}  {i['bytes'] / 2**20:.1f} MiB" for i in info["images"]),
    ]
    saved = info["images_bytes_separate"] - info["images_bytes_stored"]
    if info["images"]:
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

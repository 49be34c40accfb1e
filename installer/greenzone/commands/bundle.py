"""`greenzone bundle keygen|sign|verify|inspect`."""

from __future__ import annotations

import argparse
from pathlib import Path

from greenzone.atomic import write_bytes_atomic
from greenzone.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, ManifestError
from greenzone.bundle.sign import keygen as make_keys
from greenzone.bundle.sign import load_private_key, sign_bytes
from greenzone.bundle.verify import read_signed_manifest, total_bytes, verify_bundle
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
    try:
        _, manifest = read_signed_manifest(args.bundle)
        total: int | None = total_bytes(manifest)
    except (OSError, ManifestError, UnicodeDecodeError):
        total = None  # verify_bundle reports why
    with byte_progress("verifying", total) as advance:
        return verify_bundle(args.bundle, args.key, jobs=args.jobs, progress=advance)

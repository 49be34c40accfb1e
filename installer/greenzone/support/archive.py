"""The support bundle on disk: one `.tar.gz`, mode 0600, written under a temporary name and renamed,
with `index.json` first; and the reader the vendor's `analyze` uses, bounded so that a damaged or
hostile archive cannot exhaust memory."""

from __future__ import annotations

import io
import json
import os
import tarfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from greenzone.atomic import make_directory, temporary_beside, writable_target
from greenzone.errors import InputError

INDEX = "index.json"
READ_LIMIT = 512 * 2**20
MEMBER_LIMIT = 100_000
"""The most bytes `read_archive` unpacks in all: far above any bundle greenzone writes."""


def write_archive(dest: Path, top: str, index: Mapping[str, Any], members: Mapping[str, bytes]) -> Path:
    """`members` under the directory `top` inside a gzip'd tar at `dest`; nothing at `dest` until whole."""
    try:
        dest = writable_target(dest, "the support bundle")
    except InputError as error:
        raise InputError(error.title, hint="give the path of a file, e.g. /media/usb/support.tar.gz") from None
    make_directory(dest.parent)
    with temporary_beside(dest, ".partial") as (fd, tmp):
        os.fchmod(fd, 0o600)
        # A big bundle compresses fast rather than small: the write must fit the budget's last second.
        level = 6 if sum(len(data) for data in members.values()) < 16 * 2**20 else 1
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz", compresslevel=level) as tar:
            for name, data in [(INDEX, json.dumps(index, indent=2, sort_keys=True).encode()), *members.items()]:
                info = tarfile.TarInfo(f"{top}/{name}")
                info.size, info.mode = len(data), 0o600
                tar.addfile(info, io.BytesIO(data))
            raw.flush()
            os.fsync(raw.fileno())
        tmp.replace(dest)
    return dest


def read_archive(path: Path) -> tuple[dict[str, Any], dict[str, bytes]]:
    """The index and every member (by its name under the top directory) of a support bundle."""
    members: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for count, info in enumerate(tar):
                if count >= MEMBER_LIMIT:
                    raise InputError(
                        f"{path} holds more than {MEMBER_LIMIT} members: not a greenzone support bundle",
                        hint="give the .tar.gz that `greenzone support-bundle` wrote",
                    )
                if not info.isfile():
                    continue
                total += info.size
                if total > READ_LIMIT:
                    raise InputError(
                        f"{path} unpacks to more than {READ_LIMIT // 2**20} MiB: not a greenzone support bundle",
                        hint="give the .tar.gz that `greenzone support-bundle` wrote",
                    )
                handle = tar.extractfile(info)
                if handle is not None:
                    members[info.name.partition("/")[2] or info.name] = handle.read()
    except (tarfile.TarError, EOFError, OSError) as error:
        if isinstance(error, FileNotFoundError):
            raise InputError(f"{path} does not exist", hint="give the support bundle's path") from None
        raise InputError(
            f"{path} is not a readable support bundle: {error}",
            hint="copy it again from the site (it is a .tar.gz written by `greenzone support-bundle`)",
        ) from None
    if INDEX not in members:
        raise InputError(f"{path} holds no {INDEX}: not a greenzone support bundle", hint="give the right file")
    try:
        index = json.loads(members[INDEX])
    except ValueError as error:
        raise InputError(f"{path}: {INDEX} is not JSON ({error})", hint="copy the bundle again") from None
    return index, members

"""Streamed, parallel sha256 of many files.

hashlib releases the GIL while hashing buffers larger than 2 KiB, so a thread pool uses every core
without pickling file contents between processes; 1 MiB reads keep memory flat on 100 GiB bundles.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from greenzone.parallel import STOP, map_all

CHUNK = 1024 * 1024

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Hashed:
    path: Path
    size: int
    sha256: str | None  # None when the file could not be read
    error: str = ""


def sha256_file(path: Path, progress: Progress | None = None) -> Hashed:
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb", buffering=0) as handle:
            buffer = bytearray(CHUNK)
            view = memoryview(buffer)
            while read := handle.readinto(buffer):
                if STOP.is_set():  # interrupted: the command is ending, the rest of the file is not needed
                    return Hashed(path, size, None, "stopped")
                digest.update(view[:read])
                size += read
                if progress:
                    progress(read)
    except OSError as error:
        return Hashed(path, size, None, error.strerror or str(error))
    return Hashed(path, size, digest.hexdigest())


def sha256_many(paths: Iterable[Path], *, jobs: int | None = None, progress: Progress | None = None) -> list[Hashed]:
    """Hashes of `paths`, in the same order; biggest files are started first to balance the threads."""
    ordered = list(paths)
    by_size = sorted(ordered, key=lambda p: p.stat().st_size if p.exists() else 0, reverse=True)
    workers = jobs or min(32, (os.cpu_count() or 1) + 1)
    results = dict(zip(by_size, map_all(lambda p: sha256_file(p, progress), by_size, workers), strict=True))
    return [results[path] for path in ordered]

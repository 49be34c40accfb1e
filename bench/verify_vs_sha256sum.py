"""Benchmark: `greenzone bundle verify`'s hashing vs coreutils `sha256sum` on the same files.

Prints figures side by side; asserts nothing (targets from the bundle issue: >= 0.9x sha256sum on
one big file, faster than sha256sum over many files by using every core).

    .venv/bin/python bench/verify_vs_sha256sum.py [--big-mib 1024] [--many 400] [--many-kib 2048]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from greenzone.bundle.hashing import sha256_file, sha256_many


def _write(path: Path, size: int) -> None:
    block = os.urandom(1024 * 1024)
    with path.open("wb") as handle:
        remaining = size
        while remaining > 0:
            handle.write(block[: min(len(block), remaining)])
            remaining -= len(block)


def _best(runs: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--many", type=int, default=400)
    parser.add_argument("--many-kib", type=int, default=2048)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sha256sum = shutil.which("sha256sum")
    assert sha256sum, "coreutils sha256sum is needed"
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_DIR")) as tmp:
        root = Path(tmp)
        big = root / "big.bin"
        _write(big, args.big_mib * 1024 * 1024)
        many = []
        for index in range(args.many):
            path = root / "many" / f"{index:05d}.bin"
            path.parent.mkdir(exist_ok=True)
            _write(path, args.many_kib * 1024)
            many.append(path)
        # Warm the page cache so both tools read from memory, as on a second verify.
        subprocess.run([sha256sum, str(big), *map(str, many)], stdout=subprocess.DEVNULL, check=True)

        ours_big = _best(args.runs, lambda: sha256_file(big))
        theirs_big = _best(
            args.runs, lambda: subprocess.run([sha256sum, str(big)], stdout=subprocess.DEVNULL, check=True)
        )
        ours_many = _best(args.runs, lambda: sha256_many(many))
        theirs_many = _best(
            args.runs, lambda: subprocess.run([sha256sum, *map(str, many)], stdout=subprocess.DEVNULL, check=True)
        )
    big_mib = args.big_mib
    many_mib = args.many * args.many_kib / 1024
    print(f"cores: {os.cpu_count()}, best of {args.runs}, page cache warm")
    print(f"{'case':<34}{'greenzone':>14}{'sha256sum':>14}{'ratio':>9}")
    for label, mib, ours, theirs in (
        (f"1 file, {big_mib} MiB", big_mib, ours_big, theirs_big),
        (f"{args.many} files, {many_mib:.0f} MiB", many_mib, ours_many, theirs_many),
    ):
        print(f"{label:<34}{mib / ours:>10.0f} MiB/s{mib / theirs:>10.0f} MiB/s{theirs / ours:>8.2f}x")


if __name__ == "__main__":
    main()

"""Benchmark: `bundle build`'s image pulls vs `skopeo copy docker://... oci:DIR:TAG`, both from the
same loopback `docker-registry` into one OCI layout each, first run and re-run.

The images share a base layer the way real ones share CUDA or distro layers, and one of them is a
two-platform index of which linux/amd64 is kept (skopeo picks the same platform by default). Ours
is the real `greenzone bundle build` with a lock naming just these images, so its figure includes
everything the vendor waits for: pulls, checks and sealing `bundle.yaml`. Prints figures; asserts
nothing.

    .venv/bin/python bench/pull_vs_skopeo.py [--images 6] [--base-mib 48] [--own-mib 8]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.image_layouts import image_options, need_skopeo, shared_base_layout
from tests.support.registry import running_registry

from greenzone.bundle.oci import INDEX, Layout, add_image
from greenzone.bundle.registry import Registry, push_layout
from greenzone.refs import split_ref


def multi_platform(layout: Layout, ref: str, own_mib: int) -> str:
    amd = add_image(layout, f"{ref}-amd64", [os.urandom(own_mib * 2**20)], platform="linux/amd64")
    arm = add_image(layout, f"{ref}-arm64", [os.urandom(own_mib * 2**20)], platform="linux/arm64")
    index = {
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [
            {**amd.to_json(), "platform": {"os": "linux", "architecture": "amd64"}},
            {**arm.to_json(), "platform": {"os": "linux", "architecture": "arm64"}},
        ],
    }
    stored = layout.put_blob(json.dumps(index).encode(), INDEX)
    layout.tag(ref, stored)
    return stored.digest


def timed(command: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - start


def main() -> None:
    args = image_options(__doc__)
    skopeo = need_skopeo()
    with tempfile.TemporaryDirectory(prefix="gz-bench-pull-") as tmp:
        work = Path(tmp)
        with running_registry(work / "registry") as url:
            host = url.removeprefix("http://")
            names = [f"{host}/bench/image{i}:1.0" for i in range(args.images - 1)]
            source, digests = shared_base_layout(work / "source", names, args.base_mib, args.own_mib)
            multi = f"{host}/bench/multi:1.0"
            digests[multi] = multi_platform(source, multi, args.own_mib)
            source.retain(set(digests))
            push_layout(source, Registry(url), lambda ref: split_ref(ref)[1:])
            wanted = sum(path.stat().st_size for path in (source.root / "blobs" / "sha256").iterdir())
            wanted -= args.own_mib * 2**20  # the arm64 layer is left out by both

            lock = work / "bundle.lock.yaml"
            lock.write_text(
                "lock_version: 1\nplatforms: [linux/amd64]\nimages:\n"
                + "".join(f"  - {{ref: {ref}, digest: '{digest}'}}\n" for ref, digest in digests.items())
            )
            ours = [sys.executable, "-m", "greenzone", "bundle", "build", "--lock", str(lock), "--out"]
            ours_first = timed([*ours, str(work / "ours")])
            ours_again = timed([*ours, str(work / "ours")])

            theirs = work / "theirs"
            copies = [
                [skopeo, "copy", "--quiet", "--src-tls-verify=false", f"docker://{ref}", f"oci:{theirs}:{ref}"]
                for ref in digests
            ]
            start = time.perf_counter()
            for command in copies:
                subprocess.run(command, check=True, capture_output=True)
            theirs_first = time.perf_counter() - start
            start = time.perf_counter()
            for command in copies:
                subprocess.run(command, check=True, capture_output=True)
            theirs_again = time.perf_counter() - start

    mib = wanted / 2**20
    print(f"{args.images} images ({args.images - 1} on a {args.base_mib} MiB shared base, one two-platform index),")
    print(f"{mib:.0f} MiB to fetch from a loopback docker-registry into one OCI layout; {os.cpu_count()} CPUs\n")
    print(f"{'':44}{'first run':>12}{'MiB/s':>8}{'re-run':>10}")
    print(
        f"{'greenzone bundle build (pulls + seal)':44}{ours_first:>11.2f}s{mib / ours_first:>8.0f}{ours_again:>9.2f}s"
    )
    print(f"{'skopeo copy, one run per image':44}{theirs_first:>11.2f}s{mib / theirs_first:>8.0f}{theirs_again:>9.2f}s")
    print(f"\nours vs skopeo: {theirs_first / ours_first:.2f}x first run, {theirs_again / ours_again:.2f}x re-run")


if __name__ == "__main__":
    main()

"""Benchmark: pushing the bundle's OCI layout to a fresh registry, ours vs `skopeo copy`; and the
layout's size vs one archive per image (what `docker save`/`skopeo copy ... oci-archive:` give).

Both pushes go to their own fresh `docker-registry` on 127.0.0.1 in the same run. Images share a
base layer the way real ones share CUDA or distro layers. Prints figures; asserts nothing.

    .venv/bin/python bench/push_vs_skopeo.py [--images 6] [--base-mib 48] [--own-mib 8]
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.image_layouts import image_options, need_skopeo, shared_base_layout
from tests.support.registry import running_registry

from greenzone.bundle.registry import Registry, push_layout
from greenzone.refs import split_ref


def main() -> None:
    args = image_options(__doc__)
    skopeo = need_skopeo()

    with tempfile.TemporaryDirectory(prefix="gz-bench-push-") as tmp:
        work = Path(tmp)
        names = [f"example.invalid/bench/image{i}:1.0" for i in range(args.images)]
        layout, _ = shared_base_layout(work / "images", names, args.base_mib, args.own_mib)
        separate, stored = layout.sizes()

        archives = 0
        for i, name in enumerate(names):
            archive = work / f"image{i}.tar"
            subprocess.run(
                [skopeo, "copy", "--quiet", f"oci:{layout.root}:{name}", f"oci-archive:{archive}"],
                check=True,
            )
            archives += archive.stat().st_size
            archive.unlink()

        with running_registry(work / "ours") as ours, running_registry(work / "theirs") as theirs:
            start = time.perf_counter()
            stats = push_layout(layout, Registry(ours), lambda ref: split_ref(ref)[1:])
            ours_s = time.perf_counter() - start
            host = theirs.removeprefix("http://")
            start = time.perf_counter()
            for name in names:
                _, repository, tag = split_ref(name)
                subprocess.run(
                    [
                        skopeo,
                        "copy",
                        "--quiet",
                        "--dest-tls-verify=false",
                        f"oci:{layout.root}:{name}",
                        f"docker://{host}/{repository}:{tag}",
                    ],
                    check=True,
                )
            theirs_s = time.perf_counter() - start
            start = time.perf_counter()
            again = push_layout(layout, Registry(ours), lambda ref: split_ref(ref)[1:])
            again_s = time.perf_counter() - start

    mib = 2**20
    print(f"{args.images} images, {args.base_mib} MiB shared base + {args.own_mib} MiB own layer each\n")
    print(f"{'push to a fresh loopback registry':<44}{'seconds':>10}{'MiB/s':>10}")
    print(f"{'greenzone push_layout':<44}{ours_s:>10.2f}{stored / mib / ours_s:>10.0f}")
    print(f"{'skopeo copy (one run per image)':<44}{theirs_s:>10.2f}{stored / mib / theirs_s:>10.0f}")
    print(f"{'greenzone, second push (nothing to send)':<44}{again_s:>10.2f}")
    print(f"  ours: {stats.uploaded} blobs uploaded, {stats.mounted} mounted; second push: {again.uploaded} uploaded")
    print(f"\n{'size':<44}{'MiB':>10}")
    print(f"{'one OCI layout (bundle images/)':<44}{stored / mib:>10.1f}")
    print(f"{'one oci-archive per image (skopeo)':<44}{archives / mib:>10.1f}")
    print(f"{'  same, computed from the layout':<44}{separate / mib:>10.1f}")
    print(f"saving: {(1 - stored / archives) * 100:.0f}% ({(archives - stored) / mib:.0f} MiB)")


if __name__ == "__main__":
    main()

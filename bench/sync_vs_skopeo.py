"""Benchmark: mirroring an appliance's images into a cloud registry, `greenzone sync`'s image step
vs `skopeo copy` from the site's registry (what a vendor engineer scripts by hand), first and second
run; and how long parity's registry check of every image takes.

Three `docker-registry` instances on 127.0.0.1 in the same run: "harbor" (filled first, the source
for skopeo) and one fresh cloud registry per tool. Images share a base layer the way real ones share
CUDA layers. Prints figures; asserts nothing.

    .venv/bin/python bench/sync_vs_skopeo.py [--images 6] [--base-mib 48] [--own-mib 8]
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
from greenzone.refs import mirror_repository
from greenzone.sync.mirror import CloudRegistry
from greenzone.sync.push import image_held
from greenzone.sync.registry_checks import judge_held


def _skopeo_all(skopeo: str, harbor: str, cloud: CloudRegistry, refs: list[str]) -> float:
    start = time.perf_counter()
    for ref in refs:
        source, tag = mirror_repository(ref)
        repository, _ = cloud.repository(ref)
        subprocess.run(
            [
                skopeo, "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
                f"docker://{harbor}/{source}:{tag}", f"docker://{cloud.host}/{repository}:{tag}",
            ],
            check=True,
        )  # fmt: skip
    return time.perf_counter() - start


def main() -> None:
    args = image_options(__doc__)
    skopeo = need_skopeo()

    with tempfile.TemporaryDirectory(prefix="gz-bench-sync-") as tmp:
        work = Path(tmp)
        refs = [f"docker.io/bench/image{i}:1.0" for i in range(args.images)]
        layout, digests = shared_base_layout(work / "images", refs, args.base_mib, args.own_mib)
        _, stored = layout.sizes()
        with (
            running_registry(work / "harbor") as harbor_url,
            running_registry(work / "ours") as ours_url,
            running_registry(work / "theirs") as theirs_url,
        ):
            push_layout(layout, Registry(harbor_url), mirror_repository)
            ours = CloudRegistry.parse(ours_url.removeprefix("http://") + "/greenzone")
            theirs = CloudRegistry.parse(theirs_url.removeprefix("http://") + "/greenzone")
            client = Registry(ours_url)
            timings = []
            for _ in range(2):
                start = time.perf_counter()
                stats = push_layout(layout, client, ours.repository)
                timings.append((time.perf_counter() - start, stats.uploaded))
            harbor = harbor_url.removeprefix("http://")
            skopeo_first = _skopeo_all(skopeo, harbor, theirs, refs)
            skopeo_second = _skopeo_all(skopeo, harbor, theirs, refs)
            start = time.perf_counter()
            check = judge_held("images", [image_held(client, ours, ref, digests[ref]) for ref in refs], "cloud")
            parity_s = time.perf_counter() - start

    mib = 2**20
    print(f"{args.images} images, {args.base_mib} MiB shared base + {args.own_mib} MiB own layer each\n")
    print(f"{'into a fresh cloud registry':<52}{'seconds':>10}{'MiB/s':>10}")
    print(f"{'greenzone sync (from the bundle layout)':<52}{timings[0][0]:>10.2f}{stored / mib / timings[0][0]:>10.0f}")
    print(
        f"{'skopeo copy harbor -> cloud (one run per image)':<52}{skopeo_first:>10.2f}{stored / mib / skopeo_first:>10.0f}"
    )
    print(f"{'second run, greenzone sync':<52}{timings[1][0]:>10.2f}")
    print(f"{'second run, skopeo copy':<52}{skopeo_second:>10.2f}")
    print(f"  greenzone: {timings[0][1]} blobs uploaded, then {timings[1][1]} on the second run")
    print(f"{'parity: every image checked by tag and digest':<52}{parity_s:>10.2f}   ({check.status.value})")


if __name__ == "__main__":
    main()

"""Benchmark: making a delta bundle whole from the appliance (what `greenzone upgrade` does as it
starts) beside `skopeo copy` bringing the base version's images back from the same registry, in one run.

A site without the base bundle's drive needs the blobs the delta leaves out. Greenzone asks Harbor
(here a loopback `docker-registry` into which A's layout was pushed, as the install pushes it) for
exactly those blobs, by digest, each checked; the peer way is to pull every image of the base version
back with skopeo (`docker://…@digest` into an `oci:` layout), which moves every byte of A's images
whatever the delta carries. The layout's small files come from the state directory's copies in both
figures' favour (not timed). Prints figures; asserts nothing.

    .venv/bin/python bench/complete_from_site.py [--images 40] [--changed 8] [--base-mib 192] [--own-mib 2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.image_layouts import need_skopeo
from tests.support.registry import running_registry

from greenzone.answers.files import load_valid_answers
from greenzone.bundle.delta import missing_from_base, thin
from greenzone.bundle.kept import keep_installed_files
from greenzone.bundle.manifest import MANIFEST_NAME, BundleImage, Component, read_manifest
from greenzone.bundle.oci import Layout, add_image
from greenzone.bundle.registry import Registry, push_layout
from greenzone.bundle.seal import seal
from greenzone.refs import mirror_repository
from greenzone.statedir import StateDir
from greenzone.upgrade.from_site import SiteCopy

REPO = Path(__file__).resolve().parents[1]


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=40)
    parser.add_argument("--changed", type=int, default=8)
    parser.add_argument("--base-mib", type=int, default=192, help="the shared base layers, in all")
    parser.add_argument("--own-mib", type=int, default=2, help="each image's own layer")
    return parser.parse_args()


def make(root: Path, version: str, refs: list[str], bases: list[bytes], own: dict[str, bytes]) -> Path:
    layout = Layout(root / "images")
    layout.init()
    images = [
        BundleImage(ref=ref, digest=add_image(layout, ref, [bases[index % len(bases)], own[ref]]).digest)
        for index, ref in enumerate(refs)
    ]
    components = [Component(name="images", version=str(len(refs)), kind="image", paths=["images"])]
    seal(root, product_version=version, components=components, images=images, models=[], jobs=2)
    return root


def main() -> None:
    args = options()
    skopeo = need_skopeo()
    mib = 2**20
    with tempfile.TemporaryDirectory(prefix="gz-bench-site-") as tmp:
        work = Path(tmp)
        refs = [f"docker.io/bench/app-{index:03d}:1.0" for index in range(args.images)]
        bases = [os.urandom(args.base_mib * mib // 4) for _ in range(4)]
        own = {ref: os.urandom(args.own_mib * mib) for ref in refs}
        changed = {ref: os.urandom(args.own_mib * mib) for ref in refs[: args.changed]}
        base = make(work / "a", "1.0.0", refs, bases, own)
        new = make(work / "b", "1.1.0", refs, bases, {**own, **changed})
        delta = work / "delta"
        shutil.copytree(new, delta)
        (delta / MANIFEST_NAME).write_text(thin(delta, read_manifest(delta), base).to_yaml())
        manifest, previous = read_manifest(delta), read_manifest(base)
        left_out = sum(item.size for item in manifest.from_base())

        state = StateDir(work / "state")
        keep_installed_files(state.bundle_files, base, previous, [])  # what the install keeps
        answers = load_valid_answers(REPO / "examples" / "single-node-ollama.yaml")
        with running_registry(work / "registry") as url:
            push_layout(Layout(base / "images"), Registry(url), mirror_repository)
            started = time.perf_counter()
            site = SiteCopy(state, answers, delta, manifest, previous, {"registry": url})
            look = site.look()
            looked = time.perf_counter() - started
            site.bring()
            ours = time.perf_counter() - started
            assert not missing_from_base(delta, manifest)

            theirs_dir = work / "skopeo"
            host = url.removeprefix("http://")
            started = time.perf_counter()
            for image in previous.images:
                repository = mirror_repository(image.ref)[0]
                subprocess.run(
                    [skopeo, "copy", "--quiet", "--src-tls-verify=false",
                     f"docker://{host}/{repository}@{image.digest}", f"oci:{theirs_dir}:{image.ref.rsplit(':', 1)[1]}"],
                    check=True, capture_output=True,
                )  # fmt: skip
            theirs = time.perf_counter() - started
            theirs_bytes = sum(path.stat().st_size for path in theirs_dir.rglob("*") if path.is_file())

    print(f"{args.images} images on 4 shared base layers ({args.base_mib} MiB), {args.changed} changed")
    print(f"the delta leaves out {len(manifest.from_base())} files, {left_out / mib:.1f} MiB")
    print(f"{'':44}{'seconds':>9}{'MiB moved':>11}{'MiB/s':>8}")
    print(
        f"{'greenzone (look + bring from Harbor)':44}{ours:>9.2f}{look.bytes / mib:>11.1f}"
        f"{look.bytes / mib / ours:>8.0f}   (look alone {looked:.2f} s)"
    )
    print(
        f"{'skopeo copy of every base image':44}{theirs:>9.2f}{theirs_bytes / mib:>11.1f}{theirs_bytes / mib / theirs:>8.0f}"
    )
    print(f"\ngreenzone vs skopeo: {theirs / ours:.2f}x faster, {theirs_bytes / max(look.bytes, 1):.2f}x fewer bytes")


if __name__ == "__main__":
    main()

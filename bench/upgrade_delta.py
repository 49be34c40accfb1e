"""Upgrade figures on bundles with hundreds of images, beside `rsync --only-write-batch` in the same run.

Two sealed bundles, A and B: `--images` images on shared base layers (as real images share CUDA and
distro layers), each with a layer of its own; B changes `--changed` of them (a new top layer) and one
model file. Printed:
- the delta `bundle build --base` leaves (bundle/delta.py's `thin`) against the bytes that really
  changed (goal: at most 1.02x) and against the whole bundle, beside the batch rsync writes to turn
  A's directory into B's;
- the plan's time (build_plan with the images' bytes to push, what `upgrade --check` computes);
- `--finalize`'s plan time and the bytes of model files it would free. Harbor's deletion and garbage
  collection cannot run here (no Harbor): not measured.

    python bench/upgrade_delta.py [--images 300] [--changed 30] [--base-mib 64] [--own-kib 256]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from greenzone.answers.files import load_valid_answers
from greenzone.bundle.delta import thin
from greenzone.bundle.manifest import MANIFEST_NAME, BundleImage, BundleModel, Component, read_manifest
from greenzone.bundle.oci import Layout, add_image
from greenzone.bundle.seal import seal
from greenzone.upgrade.finalize import finalize_plan
from greenzone.upgrade.plan import build_plan
from greenzone.upgrade.session import bytes_to_push

REPO = Path(__file__).resolve().parents[1]


def options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--changed", type=int, default=30)
    parser.add_argument("--base-mib", type=int, default=64, help="the shared base layers, in all")
    parser.add_argument("--own-kib", type=int, default=256, help="each image's own layer")
    parser.add_argument("--runs", type=int, default=5)
    return parser.parse_args()


def make(root: Path, version: str, refs: list[str], bases: list[bytes], own: dict[str, bytes], model: bytes) -> Path:
    layout = Layout(root / "images")
    layout.init()
    images = [
        BundleImage(ref=ref, digest=add_image(layout, ref, [bases[index % len(bases)], own[ref]]).digest)
        for index, ref in enumerate(refs)
    ]
    blob = root / "models" / "ollama" / "blobs" / "sha256-model"
    blob.parent.mkdir(parents=True)
    blob.write_bytes(model)
    components = [
        Component(name="images", version=str(len(refs)), kind="image", paths=["images"]),
        Component(name="demo:1b", version="files", kind="model", paths=["models/ollama/blobs/sha256-model"]),
    ]
    seal(
        root,
        product_version=version,
        components=components,
        images=images,
        models=[BundleModel(name="demo:1b", engine="ollama", size_bytes=len(model), vram_bytes=len(model))],
        jobs=2,
    )
    return root


def size(root: Path) -> int:
    return sum(path.stat().st_size for path in root.rglob("*") if path.is_file())


def timed(runs: int, work: object) -> float:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        work()  # type: ignore[operator]
        seconds.append(time.perf_counter() - started)
    return statistics.median(seconds)


def main() -> None:
    args = options()
    work = Path(tempfile.mkdtemp(prefix="gz-upgrade-bench-"))
    try:
        refs = [f"docker.io/bench/app-{index:03d}:1.0" for index in range(args.images)]
        bases = [os.urandom(args.base_mib * 2**20 // 4) for _ in range(4)]
        own = {ref: os.urandom(args.own_kib * 1024) for ref in refs}
        changed = {ref: os.urandom(args.own_kib * 1024) for ref in refs[: args.changed]}
        base = make(work / "a", "1.0.0", refs, bases, own, os.urandom(8 * 2**20))
        new = make(work / "b", "1.1.0", refs, bases, {**own, **changed}, os.urandom(8 * 2**20))
        base_manifest, new_manifest = read_manifest(base), read_manifest(new)
        in_base = {(item.path, item.sha256) for item in base_manifest.files}
        really = sum(item.size for item in new_manifest.files if (item.path, item.sha256) not in in_base)
        whole = size(new)

        delta = work / "delta"
        shutil.copytree(new, delta)
        started = time.perf_counter()
        thinned = thin(delta, read_manifest(delta), base)
        (delta / MANIFEST_NAME).write_text(thinned.to_yaml())
        thin_seconds = time.perf_counter() - started
        carried = size(delta)

        batch = work / "rsync.batch"
        target = work / "a-copy"
        shutil.copytree(base, target)
        started = time.perf_counter()
        subprocess.run(
            ["rsync", "-a", "--delete", f"--only-write-batch={batch}", f"{new}/", f"{target}/"],
            check=True,
            capture_output=True,
        )
        rsync_seconds = time.perf_counter() - started

        answers = load_valid_answers(REPO / "examples" / "single-node-ollama.yaml")
        plan_seconds = timed(
            args.runs,
            lambda: build_plan(
                base_manifest, new_manifest, answers, [], bytes_to_push=bytes_to_push(new, base_manifest, new_manifest)
            ),
        )
        finalize = finalize_plan([base_manifest], new_manifest, served=[])
        finalize_seconds = timed(args.runs, lambda: finalize_plan([base_manifest], new_manifest, served=[]))

        mib = 2**20
        print(
            f"{args.images} images on {len(bases)} shared base layers, {args.changed} changed, one model file changed"
        )
        print(f"whole bundle B: {whole / mib:.1f} MiB; bytes that really changed from A: {really / mib:.2f} MiB")
        print(
            f"greenzone delta (bundle build --base): {carried / mib:.2f} MiB carried = {carried / really:.3f}x what "
            f"changed, {carried / whole:.1%} of the whole bundle (thinning {thin_seconds:.2f} s)"
        )
        print(
            f"rsync --only-write-batch A->B:         {batch.stat().st_size / mib:.2f} MiB = "
            f"{batch.stat().st_size / really:.3f}x what changed ({rsync_seconds:.2f} s)"
        )
        print(f"upgrade plan (build_plan + bytes to push, {args.images} images): median {plan_seconds * 1000:.0f} ms")
        print(
            f"--finalize plan: median {finalize_seconds * 1000:.1f} ms; {len(finalize.images)} image(s) and "
            f"{finalize.model_bytes / mib:.1f} MiB of model files to delete (Harbor's deletion and GC: not run here)"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()

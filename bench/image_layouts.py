"""What the image benchmarks share: their options, the skopeo they compare with, and a layout of
images on one shared base layer (the way real images share CUDA or distro layers)."""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from greenzone.bundle.oci import Layout, add_image


def image_options(description: str | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6)
    parser.add_argument("--base-mib", type=int, default=48)
    parser.add_argument("--own-mib", type=int, default=8)
    return parser.parse_args()


def need_skopeo() -> str:
    skopeo = shutil.which("skopeo")
    if not skopeo:
        raise SystemExit("skopeo is needed (apt install skopeo)")
    return skopeo


def shared_base_layout(root: Path, refs: list[str], base_mib: int, own_mib: int) -> tuple[Layout, dict[str, str]]:
    """The layout and each image's digest."""
    layout = Layout(root)
    layout.init()
    base = os.urandom(base_mib * 2**20)
    digests = {ref: add_image(layout, ref, [base, os.urandom(own_mib * 2**20)]).digest for ref in refs}
    return layout, digests

"""`bundle inspect`: what a bundle holds, for the vendor engineer and the site administrator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from greenzone.bundle.manifest import read_manifest
from greenzone.bundle.oci import Layout


def inspect_bundle(bundle_dir: Path) -> dict[str, Any]:
    manifest = read_manifest(bundle_dir)
    images: list[dict[str, Any]] = []
    separate = stored = 0
    layout = Layout(bundle_dir / "images")
    if (layout.root / "index.json").is_file():
        for image in layout.index():
            size = sum(d.size for d in {d.digest: d for d in layout.walk(image)}.values())
            images.append({"ref": image.ref, "digest": image.digest, "bytes": size})
        separate, stored = layout.sizes()
    return {
        "product_version": manifest.product_version,
        "created": manifest.created,
        "components": [c.model_dump() for c in manifest.components],
        "images": images,
        "images_bytes_separate": separate,
        "images_bytes_stored": stored,
        "models": [m.model_dump() for m in manifest.models],
        "files": len(manifest.files),
        "bytes": sum(f.size for f in manifest.files),
    }

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
    try:
        if (layout.root / "index.json").is_file():
            for image in layout.index():
                size = sum(d.size for d in {d.digest: d for d in layout.walk(image)}.values())
                images.append({"ref": image.ref, "digest": image.digest, "bytes": size})
            separate, stored = layout.sizes()
        elif manifest.base is not None and manifest.images:
            raise FileNotFoundError(layout.root / "index.json")  # left out with the rest the base carries
    except OSError:  # a delta not completed: what it shares with its base is the base's
        images = [{"ref": image.ref, "digest": image.digest, "bytes": None} for image in manifest.images]
        separate = stored = 0
    total = sum(f.size for f in manifest.files)
    left_out = manifest.from_base()
    delta = None
    if manifest.base is not None:
        delta = {
            "base": manifest.base.product_version,
            "base_manifest_sha256": manifest.base.manifest_sha256,
            "carried_files": len(manifest.files) - len(left_out),
            "carried_bytes": total - sum(f.size for f in left_out),
            "from_base_files": len(left_out),
            "from_base_bytes": sum(f.size for f in left_out),
        }
    return {
        "delta": delta,
        "product_version": manifest.product_version,
        "created": manifest.created,
        "components": [c.model_dump() for c in manifest.components],
        "images": images,
        "images_bytes_separate": separate,
        "images_bytes_stored": stored,
        "models": [m.model_dump() for m in manifest.models],
        "files": len(manifest.files),
        "bytes": total,
    }

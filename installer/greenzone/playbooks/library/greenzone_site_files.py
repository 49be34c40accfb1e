"""Ansible module, run on a node: which of the files a delta bundle leaves out this node keeps with
the signed manifest's bytes (`greenzone.bundle.site_sources` names where). Self-contained: a node has
Python, not greenzone."""

from __future__ import annotations

import getpass
import hashlib
import os
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: greenzone_site_files
short_description: Check files on this node against a bundle manifest's sizes and sha256s
options:
  files:
    type: list
    elements: dict
    required: true
    description: Each with src (the path on the node), size and sha256 (from the delta's signed manifest).
  hash:
    type: bool
    default: false
    description: Also hash each file (before it is fetched); without, size only (a quick look).
author: Greenzone
"""

CHUNK = 4 * 2**20


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _why_not(item: dict[str, object], hash_too: bool) -> str:
    src = Path(str(item["src"]))
    if not src.is_file():
        return f"{src} is missing"
    if not os.access(src, os.R_OK):  # fetched as the SSH user, never through become (see site-files.yml)
        return f"{src} cannot be read by {getpass.getuser()}"
    size = src.stat().st_size
    if size != int(str(item["size"])):
        return f"{src} has {size} bytes, the manifest says {item['size']}"
    if hash_too and _sha256(src) != item["sha256"]:
        return f"{src} differs from the manifest (sha256)"
    return ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "required": True},
            "hash": {"type": "bool", "default": False},
        },
        supports_check_mode=True,
    )
    found, lacking = [], []
    for item in module.params["files"]:
        why = _why_not(item, module.params["hash"])
        if why:
            lacking.append(why)
        else:
            found.append(item)
    module.exit_json(changed=False, found=found, lacking=lacking)


if __name__ == "__main__":
    main()

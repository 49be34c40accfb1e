"""Ansible module, run on a node: which of the files a delta bundle leaves out this node keeps with
the signed manifest's bytes (`greenzone.bundle.site_sources` names where). Self-contained: a node has
Python, not greenzone."""

from __future__ import annotations

import getpass
import os
import stat
from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: greenzone_site_files
short_description: Check files on this node against a bundle manifest's sizes
options:
  files:
    type: list
    elements: dict
    required: true
    description: >-
      Each with src (the path on the node) and size (from the delta's signed manifest); the installer
      hashes each fetched file against the manifest's sha256.
author: Greenzone
"""


def _why_not(item: dict[str, object]) -> str:
    src = Path(str(item["src"]))
    try:
        found = src.stat()
    except FileNotFoundError:
        return f"{src} is missing"
    except OSError as error:  # a folder on the way the SSH user may not search
        return f"{src} cannot be reached by {getpass.getuser()}: {error.strerror}"
    if not stat.S_ISREG(found.st_mode):
        return f"{src} is not a plain file"
    if not os.access(src, os.R_OK):  # fetched as the SSH user, never through become (see site-files.yml)
        return f"{src} cannot be read by {getpass.getuser()}"
    size = found.st_size
    if size != int(str(item["size"])):
        return f"{src} has {size} bytes, the manifest says {item['size']}"
    return ""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "files": {"type": "list", "elements": "dict", "required": True},
        },
        supports_check_mode=True,
    )
    found, lacking = [], []
    for item in module.params["files"]:
        why = _why_not(item)
        if why:
            lacking.append(why)
        else:
            found.append(item)
    module.exit_json(changed=False, found=found, lacking=lacking)


if __name__ == "__main__":
    main()

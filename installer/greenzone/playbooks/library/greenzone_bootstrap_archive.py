"""Ansible module: build the bundle's bootstrap images as one OCI archive (greenzone.deploy.actions)."""

from __future__ import annotations

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: greenzone_bootstrap_archive
short_description: Write the bundle's bootstrap images as one reproducible OCI archive
description: Runs on the installing machine; reports changed only when the archive's content changes.
options:
  bundle: {type: path, required: true, description: The bundle directory.}
  dest: {type: path, required: true, description: Where to write the archive.}
author: Greenzone
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={"bundle": {"type": "path", "required": True}, "dest": {"type": "path", "required": True}},
        supports_check_mode=True,
    )
    from greenzone.deploy.actions import bootstrap_archive
    from greenzone.errors import GreenzoneError

    try:
        outcome = bootstrap_archive(Path(module.params["bundle"]), Path(module.params["dest"]), check=module.check_mode)
    except (GreenzoneError, KeyError, OSError) as error:
        module.fail_json(msg=f"cannot build the bootstrap images archive: {error}")
    module.exit_json(changed=outcome.changed, msg=outcome.message, **outcome.details)


if __name__ == "__main__":
    main()

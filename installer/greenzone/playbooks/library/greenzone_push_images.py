"""Ansible module: push the bundle's OCI layout into Harbor (greenzone.deploy.actions)."""

from __future__ import annotations

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: greenzone_push_images
short_description: Push every image of the bundle into Harbor, digests kept, present blobs skipped
options:
  bundle: {type: path, required: true, description: The bundle directory.}
  registry: {type: str, required: true, description: "https://HOST[:PORT] of Harbor."}
  ca_file: {type: path, description: CA that signed Harbor's certificate.}
  credentials_file: {type: path, description: The installer's credentials.yaml (admin password).}
  harbor: {type: bool, default: true, description: Create Harbor's mirror projects first.}
author: Greenzone
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "bundle": {"type": "path", "required": True},
            "registry": {"type": "str", "required": True},
            "ca_file": {"type": "path"},
            "credentials_file": {"type": "path", "no_log": False},
            "harbor": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    from greenzone.deploy.actions import push_images
    from greenzone.errors import GreenzoneError

    params = module.params
    try:
        outcome = push_images(
            Path(params["bundle"]),
            params["registry"],
            ca_file=Path(params["ca_file"]) if params["ca_file"] else None,
            credentials_file=Path(params["credentials_file"]) if params["credentials_file"] else None,
            harbor=params["harbor"],
            check=module.check_mode,
        )
    except GreenzoneError as error:
        module.fail_json(msg=f"{error} ({error.hint})" if error.hint else str(error))
    module.exit_json(changed=outcome.changed, msg=outcome.message, **outcome.details)


if __name__ == "__main__":
    main()

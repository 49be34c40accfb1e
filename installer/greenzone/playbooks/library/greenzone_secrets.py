"""Ansible module: create or update the Secrets a release reads (greenzone.deploy.actions)."""

from __future__ import annotations

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: greenzone_secrets
short_description: Create the Secrets one release reads from the installer's credentials file
options:
  release: {type: str, required: true, description: Release whose Secrets to write.}
  namespace: {type: str, required: true, description: Namespace of the release.}
  credentials_file: {type: path, required: true, description: The installer's credentials.yaml.}
  kubeconfig: {type: path, required: true, description: The installer's kubeconfig.}
  values_file:
    type: path
    required: false
    description: The guardrails release's values, after it is installed; writes each department's gateway key
      Secret in its namespace instead of the Secrets the release reads.
author: Greenzone
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "release": {"type": "str", "required": True},
            "namespace": {"type": "str", "required": True},
            "credentials_file": {"type": "path", "required": True, "no_log": False},
            "kubeconfig": {"type": "path", "required": True},
            "values_file": {"type": "path", "required": False},
        },
        supports_check_mode=True,
    )
    from greenzone.deploy.actions import apply_secrets
    from greenzone.errors import GreenzoneError

    params = module.params
    try:
        outcome = apply_secrets(
            params["release"],
            params["namespace"],
            Path(params["credentials_file"]),
            Path(params["kubeconfig"]),
            check=module.check_mode,
            values_file=Path(params["values_file"]) if params.get("values_file") else None,
        )
    except (GreenzoneError, KeyError) as error:
        module.fail_json(msg=f"cannot write the Secrets of {params['release']}: {error}")
    module.exit_json(changed=outcome.changed, msg=outcome.message, **outcome.details)


if __name__ == "__main__":
    main()

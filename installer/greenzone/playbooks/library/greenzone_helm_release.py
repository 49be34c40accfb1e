"""Ansible module: install or upgrade one Helm release through the installer's pyhelm3 adapter."""

from __future__ import annotations

from pathlib import Path

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: greenzone_helm_release
short_description: Install or upgrade a release from a bundle chart archive and wait for it
description:
  - Leaves a deployed release with the same chart version and values alone (changed=false).
  - On a timeout, names the pods that are not ready and why.
options:
  release: {type: str, required: true, description: Release name.}
  chart: {type: path, required: true, description: Chart archive (.tgz) from the bundle.}
  namespace: {type: str, required: true, description: Namespace, created when missing.}
  values_files: {type: list, elements: path, default: [], description: Values files, merged in order.}
  extra_values: {type: dict, default: {}, description: Values merged last (secrets the chart only takes inline).}
  kubeconfig: {type: path, required: true, description: The installer's kubeconfig.}
  helm: {type: path, required: true, description: The helm binary from the bundle.}
  timeout: {type: str, default: 10m, description: How long to wait for the workloads.}
author: Greenzone
"""


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            "release": {"type": "str", "required": True},
            "chart": {"type": "path", "required": True},
            "namespace": {"type": "str", "required": True},
            "values_files": {"type": "list", "elements": "path", "default": []},
            "extra_values": {"type": "dict", "default": {}, "no_log": True},
            "kubeconfig": {"type": "path", "required": True},
            "helm": {"type": "path", "required": True},
            "timeout": {"type": "str", "default": "10m"},
        },
        supports_check_mode=True,
    )
    from greenzone.deploy.actions import helm_release
    from greenzone.errors import GreenzoneError

    params = module.params
    try:
        outcome = helm_release(
            helm=Path(params["helm"]),
            kubeconfig=Path(params["kubeconfig"]),
            release=params["release"],
            chart=Path(params["chart"]),
            namespace=params["namespace"],
            values_files=[Path(item) for item in params["values_files"]],
            extra_values=params["extra_values"],
            timeout=params["timeout"],
            check=module.check_mode,
        )
    except GreenzoneError as error:
        module.fail_json(msg=str(error))
    if outcome.failed:
        module.fail_json(msg=outcome.message, **outcome.details)
    module.exit_json(changed=outcome.changed, msg=outcome.message, **outcome.details)


if __name__ == "__main__":
    main()

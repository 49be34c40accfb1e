"""Documentation of the action plugin of the same name (action_plugins/greenzone_node_preflight.py),
which does the work on the installing machine; Ansible and ansible-lint read the options here."""

from __future__ import annotations

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: greenzone_node_preflight
short_description: Check a node with greenzone's own preflight rules
description:
  - Runs greenzone's standard-library fact probe on the node and judges what it saw on the
    installing machine with the same rules as `greenzone preflight`; fails naming every blocking
    check with its fix. Changes nothing.
options:
  ports: {type: list, elements: int, required: true, description: Ports that must be free.}
  k3s_data_dir: {type: path, default: /var/lib/rancher/k3s, description: Where k3s will keep its data.}
  gpu: {type: bool, default: false, description: Ask nvidia-smi too (a GPU node with a preinstalled driver).}
  forced: {type: list, elements: str, default: [], description: Failing checks to report as warnings.}
author: Greenzone
"""


def main() -> None:
    AnsibleModule(
        argument_spec={
            "ports": {"type": "list", "elements": "int", "required": True},
            "k3s_data_dir": {"type": "path", "default": "/var/lib/rancher/k3s"},
            "gpu": {"type": "bool", "default": False},
            "forced": {"type": "list", "elements": "str", "default": []},
        },
        supports_check_mode=True,
    ).fail_json(msg="greenzone_node_preflight runs as an action plugin; is action_plugins/ configured?")


if __name__ == "__main__":
    main()

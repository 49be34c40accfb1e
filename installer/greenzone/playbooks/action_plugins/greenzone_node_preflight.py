"""Ansible action: run greenzone's fact probe on the node, judge it on the installing machine.

An action plugin runs on the controller, in the installer's own Python, so the verdicts come from
greenzone's preflight rules (greenzone.deploy.actions.node_preflight) and only the probe, a
standard-library script, runs on the node. Reading changes nothing, so it runs in check mode too.
"""

from __future__ import annotations

import shlex
from typing import Any

from ansible.plugins.action import ActionBase

ARGUMENT_SPEC = {
    "ports": {"type": "list", "elements": "int", "required": True},
    "k3s_data_dir": {"type": "path", "default": "/var/lib/rancher/k3s"},
    "gpu": {"type": "bool", "default": False},
    "forced": {"type": "list", "elements": "str", "default": []},
    # Only on a GPU node whose driver the operator runs: the bundle's images, for the precompiled
    # driver image the node's kernel needs.
    "driver_images": {"type": "list", "elements": "str", "required": False},
    # The machine types the bundle carries (x86_64, aarch64): a node of another is refused.
    "bundle_machines": {"type": "list", "elements": "str", "default": []},
}


class ActionModule(ActionBase):  # type: ignore[misc]
    TRANSFERS_FILES = False

    def _python(self, task_vars: dict[str, Any]) -> str:
        """The node's Python as Ansible would pick it: the host's variable or the configured
        interpreter, unless either says `auto*`, then the one discovered while gathering facts."""
        from ansible import constants

        for candidate in (
            task_vars.get("ansible_python_interpreter"),
            constants.config.get_config_value("INTERPRETER_PYTHON", variables=task_vars),
        ):
            if candidate and not str(candidate).startswith("auto"):
                return str(self._templar.template(candidate))
        discovered = task_vars.get("ansible_facts", {}).get("discovered_interpreter_python")
        return str(discovered or "/usr/bin/python3")

    def run(self, tmp: Any = None, task_vars: dict[str, Any] | None = None) -> dict[str, Any]:
        from greenzone.deploy.actions import node_preflight, probe_request, probe_source

        task_vars = task_vars or {}
        result: dict[str, Any] = super().run(tmp, task_vars)
        _, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        python = self._python(task_vars)
        request = probe_request(args["ports"], args["k3s_data_dir"], gpu=args["gpu"])
        command = " ".join(shlex.quote(part) for part in (str(python), "-c", probe_source(), request))
        ran = self._low_level_execute_command(command, sudoable=True)
        outcome = node_preflight(
            str(task_vars.get("inventory_hostname", "this node")),
            ran.get("rc", 1),
            ran.get("stdout", ""),
            ran.get("stderr", ""),
            forced=args["forced"],
            driver_images=args.get("driver_images"),
            machines=args["bundle_machines"],
        )
        result.update(changed=False, failed=outcome.failed, msg=outcome.message, **outcome.details)
        return result

"""The Review screen's plain summary: the choices that take effect, defaults included, in words.

The answer file below it shows only what differs from the defaults, so the engine, the models or
the egress policy could be missing from it although they decide what is installed.
"""

from __future__ import annotations

from greenzone.answers.model import Answers
from greenzone.answers.rules import ENGINE_NAMES


def effective_choices(answers: Answers) -> list[tuple[str, str]]:
    inference, zone = answers.inference, answers.green_zone
    servers = sum(node.role == "server" for node in answers.nodes)
    agents = len(answers.nodes) - servers
    nodes = f"{len(answers.nodes)} ({servers} server{'s' if servers != 1 else ''}"
    nodes += f", {agents} GPU agent{'s' if agents != 1 else ''})" if agents else ")"
    tls = answers.registry.tls
    departments = ", ".join(
        f"{d.name} ({d.gpu_quota} GPU{'s' if d.gpu_quota != 1 else ''}, {d.memory_quota})" for d in answers.departments
    )
    return [
        ("Appliance", f"{answers.appliance.name} at {answers.network.hostname}"),
        ("Nodes", nodes),
        ("Engine", ENGINE_NAMES.get(inference.engine, inference.engine)),
        ("Models", ", ".join(inference.models)),
        ("Serving", f"{inference.replicas} replica(s) × {inference.gpus_per_replica} GPU(s)"),
        ("Chat UI", "yes" if inference.chat_ui else "no"),
        ("Harbor TLS", "provided certificate" if tls.mode == "provided" else "self-signed CA"),
        (
            "Egress",
            "deny (DNS only)" if zone.egress == "deny" else f"allow-list: {', '.join(map(str, zone.allow_cidrs))}",
        ),
        ("Departments", departments or "none"),
        ("Dashboards", "yes" if answers.monitoring.enabled else "no"),
    ]

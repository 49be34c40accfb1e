"""Answers -> the Ansible inventory of the appliance (pure).

Groups follow k3s-ansible's naming (`server`, `agent` under `k3s_cluster`) so operators who know
that project read ours at a glance. The first server initialises the cluster; with three or more
servers it starts embedded etcd (`cluster-init`) and the others join it.
"""

from __future__ import annotations

from typing import Any

from greenzone.answers.model import Answers, Node
from greenzone.preflight.rules import required_ports

K3S_API_PORT = 6443


def inventory_name(node: Node, index: int) -> str:
    """The node's name, else its address; the local node without a name is `local`."""
    if node.name:
        return node.name
    return "local" if node.address == "local" else f"node-{index + 1}-{node.address}"


def host_vars(node: Node) -> dict[str, Any]:
    found: dict[str, Any]
    if node.address == "local":
        # The installer's own Python runs the modules: it is certainly there, whatever interpreter
        # discovery would find first on the box (a pyenv shim, a distro Python without its libraries).
        found = {"ansible_connection": "local", "ansible_python_interpreter": "{{ ansible_playbook_python }}"}
    else:
        found = {"ansible_host": node.address, "ansible_user": node.ssh.user, "ansible_port": node.ssh.port}
        if node.ssh.key_file is not None:
            found["ansible_ssh_private_key_file"] = str(node.ssh.key_file)
        if node.ssh.user != "root":
            found["ansible_become"] = True
    if node.name:
        found["k3s_node_name"] = node.name
    if node.ip:
        found["k3s_node_ip"] = node.ip
    return found


def api_address(answers: Answers) -> str | None:
    """Where joining nodes reach the first server: the advertised IP, else its SSH address."""
    if answers.network.advertise_ip:
        return answers.network.advertise_ip
    first = next(node for node in answers.nodes if node.role == "server")
    return None if first.address == "local" else first.address


def registry_ip(answers: Answers) -> str | None:
    """Where the registry host name points on every node: Harbor's ingress runs on the servers."""
    if answers.network.advertise_ip:
        return answers.network.advertise_ip
    first = next(node for node in answers.nodes if node.role == "server")
    if first.address != "local":
        return first.address
    return "127.0.0.1" if len(answers.nodes) == 1 else None


def build_inventory(answers: Answers) -> dict[str, Any]:
    servers: dict[str, Any] = {}
    agents: dict[str, Any] = {}
    # GPU workloads run on the agents when there are any (servers keep the control plane), else on the servers.
    gpu_role = "agent" if any(node.role == "agent" for node in answers.nodes) else "server"
    for index, node in enumerate(answers.nodes):
        found = host_vars(node)
        found["greenzone_gpu_node"] = node.role == gpu_role
        (servers if node.role == "server" else agents)[inventory_name(node, index)] = found
    first_server = next(iter(servers))
    servers[first_server]["k3s_init_server"] = True
    if answers.network.advertise_ip:
        servers[first_server].setdefault("k3s_node_ip", answers.network.advertise_ip)
    address = api_address(answers)
    cluster_vars: dict[str, Any] = {
        "greenzone_appliance": answers.appliance.name,
        "greenzone_hostname": answers.network.hostname,
        "greenzone_registry_hostname": answers.registry_hostname(),
        "k3s_embedded_etcd": len(servers) >= 3,
        "k3s_cluster_cidr": answers.network.pod_cidr,
        "k3s_service_cidr": answers.network.service_cidr,
        "k3s_api_port": K3S_API_PORT,
        "greenzone_bundle_path": str(answers.bundle.path),
        "greenzone_registry_port": answers.registry.port,
        "greenzone_required_ports": sorted(required_ports(answers)),
        "greenzone_gpu_driver": answers.gpu.driver,
    }
    ip = registry_ip(answers)
    if ip is not None:
        cluster_vars["greenzone_registry_ip"] = ip
    if address is not None:
        cluster_vars["k3s_api_endpoint"] = f"https://{address}:{K3S_API_PORT}"
    if answers.network.advertise_ip:
        cluster_vars["k3s_advertise_ip"] = answers.network.advertise_ip
    # The agent group exists even empty: site.yml's agents play names it, and an unknown pattern warns.
    children: dict[str, Any] = {"server": {"hosts": servers}, "agent": {"hosts": agents}}
    return {"all": {"children": {"k3s_cluster": {"children": children, "vars": cluster_vars}}}}


def inventory_text(answers: Answers) -> str:
    """The inventory file as the install writes it (the bundle's variables aside). In the answers'
    order, never sorted: Ansible keeps a group's hosts in file order, and `groups['server'][0]`, which
    the roles take for the first server (the one that starts the cluster), must be the answers' first."""
    import json

    return json.dumps(build_inventory(answers), indent=2) + "\n"

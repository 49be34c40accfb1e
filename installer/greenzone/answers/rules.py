"""Rules that relate several fields of a structurally valid answer file.

Each rule yields every violation it finds (not just the first), each at the key path an
administrator has to edit. Facts from outside the file (GPUs present, models in the bundle) come in
through `Context`, so the same rules serve `answers validate`, preflight and the TUI's live checks.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from greenzone.answers.model import Answers, Cloud
from greenzone.answers.problems import Problem, did_you_mean
from greenzone.sync.mirror import registry_problem

#: Namespaces greenzone or Kubernetes itself owns; a department must not take one of them.
RESERVED_NAMESPACES = frozenset(
    {
        "default",
        "kube-system",
        "kube-public",
        "kube-node-lease",
        "greenzone",
        "greenzone-system",
        "gpu-operator",
        "harbor",
        "inference",
        "monitoring",
    }
)


@dataclass(frozen=True)
class Context:
    """What is known outside the file; `None` means unknown, and rules needing it stay silent."""

    gpus_present: int | None = None
    bundle_models: frozenset[str] | None = None
    bundle_source: str = ""
    bundle_images: frozenset[str] | None = None
    model_engines: Mapping[str, str] | None = None
    """The bundle's models and the engine whose store format each is in."""


Rule = Callable[[Answers, Context], Iterator[Problem]]


def _error(path: tuple[str | int, ...], message: str, hint: str) -> Problem:
    return Problem("error", path, message, hint)


def _warning(path: tuple[str | int, ...], message: str, hint: str) -> Problem:
    return Problem("warning", path, message, hint)


def nodes_rule(answers: Answers, _: Context) -> Iterator[Problem]:
    servers = [i for i, node in enumerate(answers.nodes) if node.role == "server"]
    if not servers:
        yield _error(("nodes",), "no node has `role: server`", "make the first node `role: server`")
    elif len(servers) > 1 and len(servers) % 2 == 0:
        yield _error(
            ("nodes", servers[-1], "role"),
            f"{len(servers)} servers: embedded etcd needs an odd number to keep quorum",
            f"use {len(servers) - 1} or {len(servers) + 1} servers, or make this node an agent",
        )
    first = answers.nodes[servers[0]] if servers else None
    if len(answers.nodes) > 1 and first is not None and first.address == "local" and not answers.network.advertise_ip:
        yield _error(
            ("network", "advertise_ip"),
            "the first server is this machine, but no address tells the other nodes where to join it",
            "set `network.advertise_ip` to this machine's address on the cluster network",
        )
    locals_ = [i for i, node in enumerate(answers.nodes) if node.address == "local"]
    for index in locals_[1:]:
        yield _error(
            ("nodes", index, "address"),
            "more than one node is `local`",
            "give every node but the machine running greenzone its IP address or host name",
        )
    seen_names: dict[str, int] = {}
    seen_addresses: dict[str, int] = {}
    for index, node in enumerate(answers.nodes):
        if node.name is not None:
            if node.name in seen_names:
                yield _error(
                    ("nodes", index, "name"),
                    f"node name `{node.name}` is already used by nodes[{seen_names[node.name]}]",
                    "give every node its own name",
                )
            seen_names.setdefault(node.name, index)
        if node.address in seen_addresses and node.address != "local":
            yield _error(
                ("nodes", index, "address"),
                f"address {node.address} is already used by nodes[{seen_addresses[node.address]}]",
                "list each machine once",
            )
        seen_addresses.setdefault(node.address, index)
        if len(answers.nodes) > 1 and node.address == "local" and node.name is None:
            yield _warning(
                ("nodes", index, "name"),
                "the local node has no name in a multi-node cluster",
                "set `name` so the node is recognisable in `kubectl get nodes`",
            )


def _networks(
    answers: Answers,
) -> list[tuple[tuple[str | int, ...], ipaddress.IPv4Network | ipaddress.IPv6Network]]:
    return [
        (("network", "pod_cidr"), ipaddress.ip_network(answers.network.pod_cidr)),
        (("network", "service_cidr"), ipaddress.ip_network(answers.network.service_cidr)),
    ]


def network_rule(answers: Answers, _: Context) -> Iterator[Problem]:
    cluster = _networks(answers)
    for (path_a, net_a), (path_b, net_b) in itertools.combinations(cluster, 2):
        if net_a.version == net_b.version and net_a.overlaps(net_b):
            yield _error(
                path_b,
                f"{net_b} overlaps {'.'.join(map(str, path_a))} ({net_a})",
                "pick ranges that do not overlap, e.g. 10.42.0.0/16 for pods and 10.43.0.0/16 for services",
            )
    addresses: list[tuple[tuple[str | int, ...], str]] = []
    if answers.network.advertise_ip:
        addresses.append((("network", "advertise_ip"), answers.network.advertise_ip))
    for index, node in enumerate(answers.nodes):
        try:
            ipaddress.ip_address(node.address)
        except ValueError:
            continue
        addresses.append((("nodes", index, "address"), node.address))
    for path, text in addresses:
        address = ipaddress.ip_address(text)
        for net_path, net in cluster:
            if address.version == net.version and address in net:
                yield _error(
                    path,
                    f"{address} lies inside {'.'.join(map(str, net_path))} ({net})",
                    "move the cluster range away from the site network, or fix the address",
                )


def registry_rule(answers: Answers, _: Context) -> Iterator[Problem]:
    registry = answers.registry
    if registry.admin_password_file and registry.admin_password_env:
        yield _error(
            ("registry", "admin_password_env"),
            "both `admin_password_file` and `admin_password_env` are set",
            "keep one source of the Harbor admin password",
        )
    tls = registry.tls
    if tls.mode == "provided":
        for key in ("cert_file", "key_file"):
            if getattr(tls, key) is None:
                yield _error(
                    ("registry", "tls", key),
                    f"`tls.mode: provided` needs `{key}`",
                    f"set `{key}` to the PEM file, or use `mode: self-signed`",
                )
    else:
        for key in ("cert_file", "key_file"):
            if getattr(tls, key) is not None:
                yield _error(
                    ("registry", "tls", key),
                    f"`{key}` is set but `tls.mode` is self-signed, so it would be ignored",
                    "set `mode: provided` to use your certificate, or remove the key",
                )


def _schedulable_gpus(answers: Answers, context: Context) -> int | None:
    """GPUs Kubernetes can hand out (`nvidia.com/gpu`), when it can be known without the hardware."""
    present = context.gpus_present if context.gpus_present is not None else answers.gpu.expected_count
    if present is None or answers.gpu.mig_strategy != "none":
        return None  # with MIG the count depends on the profiles, known only to preflight
    return present * answers.gpu.time_slicing_replicas


def inference_rule(answers: Answers, context: Context) -> Iterator[Problem]:
    inference = answers.inference
    if inference.engine == "vllm":
        if inference.gpus_per_replica == 0:
            yield _error(
                ("inference", "gpus_per_replica"),
                "vLLM needs at least one GPU per replica, got 0",
                "set `gpus_per_replica: 1` or more, or use `engine: ollama` to run on CPU",
            )
        elif inference.gpus_per_replica & (inference.gpus_per_replica - 1):
            yield _warning(
                ("inference", "gpus_per_replica"),
                f"vLLM splits a model over {inference.gpus_per_replica} GPUs; most models need 1, 2, 4 or 8",
                "use a power of two unless the model's attention heads divide evenly",
            )
        for index, name in enumerate(inference.models):
            if "/" not in name:
                yield _warning(
                    ("inference", "models", index),
                    f"`{name}` looks like an Ollama tag; vLLM serves Hugging Face repositories",
                    "use the repository name listed by `greenzone bundle inspect`, e.g. google/gemma-3-4b-it",
                )
    seen: dict[str, int] = {}
    for index, name in enumerate(inference.models):
        if name in seen:
            yield _error(
                ("inference", "models", index),
                f"model `{name}` is listed twice (also models[{seen[name]}])",
                "list each model once",
            )
        seen.setdefault(name, index)
    schedulable = _schedulable_gpus(answers, context)
    workers = len(inference.models) if inference.engine == "vllm" else 1
    needed = workers * inference.replicas * inference.gpus_per_replica
    if schedulable is not None and needed > schedulable:
        yield _error(
            ("inference", "replicas"),
            f"inference needs {needed} GPUs ({workers} server(s) × {inference.replicas} replica(s) × "
            f"{inference.gpus_per_replica} GPU(s)) but only {schedulable} can be scheduled",
            "lower replicas or gpus_per_replica, serve fewer models, or raise gpu.time_slicing_replicas",
        )


def operator_driver_rule(answers: Answers, context: Context) -> Iterator[Problem]:
    """`gpu.driver: operator` only where it works offline: with precompiled driver images."""
    from greenzone.values.gpu_operator import DRIVER_BRANCH, precompiled_drivers

    if answers.gpu.driver != "operator" or context.bundle_images is None:
        return
    drivers = [d for d in precompiled_drivers(context.bundle_images) if d.branch == DRIVER_BRANCH]
    if not drivers:
        where = f" at {context.bundle_source}" if context.bundle_source else ""
        yield _error(
            ("gpu", "driver"),
            f"the bundle{where} carries no precompiled R{DRIVER_BRANCH} driver image, and the operator's "
            "ordinary driver container downloads kernel packages when it starts: it cannot work offline",
            "use `driver: preinstalled` (install the NVIDIA driver on the host), or have the bundle built with "
            f"`nvcr.io/nvidia/driver:{DRIVER_BRANCH}-<kernel>-ubuntu<version>` for the nodes' kernels",
        )


ENGINE_NAMES = {"ollama": "Ollama", "vllm": "vLLM"}


def no_model_for_engine(engine: str, context: Context) -> Problem | None:
    """The bundle has models, none of them for `engine`: said of the engine, in words (the wizard
    shows it while the model list is empty, before the answers can even be checked)."""
    engines = context.model_engines or {}
    if not engines or engine in engines.values():
        return None
    where = f" at {context.bundle_source}" if context.bundle_source else ""
    others = sorted({ENGINE_NAMES.get(other, other) for other in engines.values()})
    return _error(
        ("inference", "engine"),
        f"the bundle{where} holds no model for {ENGINE_NAMES.get(engine, engine)}",
        f"choose {' or '.join(others)}, whose models it holds, or use a bundle built with "
        f"{ENGINE_NAMES.get(engine, engine)} models",
    )


def bundle_models_rule(answers: Answers, context: Context) -> Iterator[Problem]:
    """Each model is in the bundle, in the store format of the engine that is to serve it: an
    Ollama tag cannot be served by vLLM, nor a Hugging Face repository by Ollama."""
    if context.bundle_models is None:
        return
    where = f" at {context.bundle_source}" if context.bundle_source else ""
    engine = answers.inference.engine
    engines = context.model_engines or {}
    served = sorted(name for name in context.bundle_models if engines.get(name, engine) == engine)
    missing_engine = no_model_for_engine(engine, context)
    if missing_engine is not None:
        yield missing_engine
        return
    listed = f"{ENGINE_NAMES.get(engine, engine)} models in the bundle: {', '.join(served) or '(none)'}"
    for index, name in enumerate(answers.inference.models):
        if name not in context.bundle_models:
            guess = did_you_mean(name, served or sorted(context.bundle_models))
            hint = (f"did you mean `{guess}`? " if guess else "") + listed
            yield _error(("inference", "models", index), f"model `{name}` is not in the bundle{where}", hint)
        elif engines.get(name, engine) != engine:
            yield _error(
                ("inference", "models", index),
                f"`{name}` is in the bundle for {ENGINE_NAMES.get(engines[name], engines[name])}; "
                f"{ENGINE_NAMES.get(engine, engine)} cannot serve it",
                listed,
            )


GATEWAY_TENANTS = {"chat-ui": "tenant of the chat UI", "monitoring": "tenant of Prometheus's scrape"}
"""The gateway's tenants besides the departments; a department may not take their names."""


def departments_rule(answers: Answers, context: Context) -> Iterator[Problem]:
    names: dict[str, int] = {}
    namespaces: dict[str, int] = {}
    for index, department in enumerate(answers.departments):
        if department.name in GATEWAY_TENANTS:
            yield _error(
                ("departments", index, "name"),
                f"`{department.name}` is the name of the gateway's own {GATEWAY_TENANTS[department.name]}",
                f"choose another name, e.g. `{department.name}-dept`",
            )
        if department.name in names:
            yield _error(
                ("departments", index, "name"),
                f"department `{department.name}` is already defined at departments[{names[department.name]}]",
                "give each department its own name, or merge the two entries",
            )
        names.setdefault(department.name, index)
        namespace = department.namespace_name
        path: tuple[str | int, ...] = (
            ("departments", index, "namespace") if department.namespace else ("departments", index, "name")
        )
        first = namespaces.get(namespace)
        # Two entries with the same department name were reported above; one error per mistake.
        if first is not None and answers.departments[first].name != department.name:
            yield _error(
                path,
                f"namespace `{namespace}` is already used by departments[{first}]",
                "give each department its own namespace",
            )
        namespaces.setdefault(namespace, index)
        if namespace in RESERVED_NAMESPACES or namespace.startswith("kube-"):
            yield _error(
                path,
                f"namespace `{namespace}` is reserved for the system",
                "choose another namespace, e.g. `<department>-dept`",
            )
    schedulable = _schedulable_gpus(answers, context)
    total = sum(department.gpu_quota for department in answers.departments)
    if schedulable is not None and total > schedulable and answers.departments:
        source = "present" if context.gpus_present is not None else "expected (gpu.expected_count)"
        yield _error(
            ("departments",),
            f"department GPU quotas add up to {total} but only {schedulable} GPUs are {source}",
            "lower the departments' gpu_quota, or raise gpu.time_slicing_replicas to share GPUs",
        )


def green_zone_rule(answers: Answers, _: Context) -> Iterator[Problem]:
    zone = answers.green_zone
    if zone.egress == "allow-list" and not zone.allow_cidrs:
        yield _error(
            ("green_zone", "allow_cidrs"),
            "`egress: allow-list` with an empty `allow_cidrs` would deny everything",
            "list the networks to allow, or use `egress: deny`",
        )
    if zone.egress == "deny" and zone.allow_cidrs:
        yield _error(
            ("green_zone", "allow_cidrs"),
            "`allow_cidrs` is set but `egress: deny` ignores it",
            "set `egress: allow-list` to use the list, or remove it",
        )
    nets = [ipaddress.ip_network(cidr) for cidr in zone.allow_cidrs]
    for index, net in enumerate(nets):
        if net.prefixlen == 0:
            yield _error(
                ("green_zone", "allow_cidrs", index),
                f"{net} allows the whole internet, which defeats the green zone",
                "list only the site networks the models may reach",
            )
        for other_index in range(index):
            other = nets[other_index]
            if net.version == other.version and net.overlaps(other):
                yield _warning(
                    ("green_zone", "allow_cidrs", index),
                    f"{net} overlaps allow_cidrs[{other_index}] ({other})",
                    "merge the two entries into one range",
                )
        for net_path, cluster_net in _networks(answers):
            if net.version == cluster_net.version and net.overlaps(cluster_net):
                yield _warning(
                    ("green_zone", "allow_cidrs", index),
                    f"{net} overlaps {'.'.join(map(str, net_path))} ({cluster_net}); in-cluster traffic "
                    "is governed by the guard-rail policies, not this list",
                    "list only networks outside the cluster",
                )


def cloud_problems(cloud: Cloud, prefix: tuple[str | int, ...] = ()) -> Iterator[Problem]:
    """The cloud target's own rules; `prefix` is `("cloud",)` inside an answer file, empty in a target file."""
    wrong = registry_problem(cloud.registry)
    if wrong:
        yield _error(
            (*prefix, "registry"),
            wrong,
            "write HOST[:PORT][/PATH], e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenzone",
        )
    if cloud.inference_url is not None and not cloud.inference_url.startswith(("https://", "http://")):
        yield _error(
            (*prefix, "inference_url"),
            f"{cloud.inference_url!r} is not an http(s) URL",
            "write the cloud inference API's base URL, e.g. https://ai.greenzone-test.example.com",
        )


def cloud_rule(answers: Answers, _: Context) -> Iterator[Problem]:
    if answers.cloud is not None:
        yield from cloud_problems(answers.cloud, ("cloud",))


RULES: tuple[Rule, ...] = (
    nodes_rule,
    network_rule,
    registry_rule,
    inference_rule,
    bundle_models_rule,
    operator_driver_rule,
    departments_rule,
    green_zone_rule,
    cloud_rule,
)


def check_rules(answers: Answers, context: Context) -> list[Problem]:
    return [problem for rule in RULES for problem in rule(answers, context)]

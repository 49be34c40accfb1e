"""`greenzone node add NAME --answers FILE` and `greenzone node remove NAME`: the appliance's
nodes after the install.

Adding: the answers are the installed ones plus the new node and nothing else changed (anything
more is `greenzone install`'s job), valid by the install's own rules (an odd number of servers...).
The install's first three phases (preflight, k3s, images) run on the new node alone, from the bundle
on this machine (the new node needs no drive), it joins with the cluster's full token, and a health
run follows; the installed answers and inventory name it once that succeeded.

Removing: retire one node of a running appliance.

What is refused is refused before anything changes, by the same answer rules as an install: the
answers without the node must still be a valid appliance (an odd number of servers for etcd's
quorum, the departments' GPU quotas...). Then `playbooks/node-remove.yml` drains it (respecting the
PodDisruptionBudgets unless `--force`), deletes its Node (which also removes a server's etcd member),
resets it with the same role as `greenzone reset`, and the installed answers and inventory are
rewritten without it.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenzone.answers.model import Answers, Node
from greenzone.errors import InputError
from greenzone.results import Check, Report, Status
from greenzone.statedir import StateDir


@dataclass(frozen=True)
class Removal:
    name: str
    node: Node
    remaining: Answers


def plan_removal(answers: Answers, name: str) -> Removal:
    """The answers without node `name`, or the refusal that says why not (pure)."""
    from greenzone.answers.dump import answers_yaml
    from greenzone.answers.validate import validate_text
    from greenzone.deploy.inventory import inventory_name

    names = [inventory_name(node, index) for index, node in enumerate(answers.nodes)]
    if name not in names:
        raise InputError(f"no node {name!r} in this appliance", hint=f"its nodes: {', '.join(names)}")
    index = names.index(name)
    node = answers.nodes[index]
    if len(answers.nodes) == 1:
        raise InputError(
            f"{name} is the appliance's only node", hint="to take the whole appliance away, use `greenzone reset`"
        )
    first_server = next(i for i, candidate in enumerate(answers.nodes) if candidate.role == "server")
    if index == first_server:
        raise InputError(
            f"{name} is the first server: the other nodes joined the cluster through it",
            hint="reset the whole appliance (`greenzone reset`), or keep this node and remove another",
        )
    remaining = answers.model_copy(update={"nodes": [n for i, n in enumerate(answers.nodes) if i != index]})
    validation = validate_text(answers_yaml(remaining, "without " + name), "answers without " + name)
    if validation.errors or validation.answers is None:
        problems = "; ".join(problem.message for problem in validation.errors)
        raise InputError(
            f"without {name} the appliance would not be valid: {problems}",
            hint="servers come in odd numbers (1, 3, 5): add a server first, then remove this one",
        )
    return Removal(name, node, validation.answers)


def _installed(args: argparse.Namespace) -> tuple[StateDir, Answers]:
    from greenzone.commands.installed import installed

    return installed(args.state_dir)


def _confirm(question: str, what: str) -> None:
    """y/N on a terminal; without one, --yes is the answer (automation)."""
    if not sys.stdin.isatty():
        raise InputError(f"{what} needs a confirmation; nothing was changed", hint="pass --yes in automation")
    try:
        reply = input(f"{question} [y/N] ").strip()
    except EOFError:
        reply = ""
    if reply.lower() not in ("y", "yes"):
        raise InputError("not confirmed; nothing was changed", hint="answer y, or pass --yes")


def node_remove(args: argparse.Namespace) -> Report:
    from greenzone.atomic import write_text_atomic
    from greenzone.commands.reset import play_on_nodes
    from greenzone.deploy.inventory import inventory_text
    from greenzone.deploy.workspace import installed_answers_text

    state, answers = _installed(args)
    removal = plan_removal(answers, args.name)
    if not args.check and not args.yes:
        node = removal.node
        _confirm(f"Drain and remove {removal.name} ({node.role}) from the appliance?", f"removing {removal.name}")
    extravars = {
        "node_remove_name": removal.name,
        "node_remove_force": bool(args.force),
        "reset_keep_models": bool(args.keep_models),
        "reset_releases": [],
    }
    progress, log = play_on_nodes(state, answers, "node-remove.yml", "node_remove", extravars, check=args.check)
    if progress.outcome != "successful":
        reason = "; ".join(failure.line() for failure in progress.failures) or progress.outcome
        hint = f"the log: {log}; run it again once fixed"
        if "drain" in reason.lower():
            hint = "a PodDisruptionBudget keeps the last replica there: add a node first, or pass --force; " + hint
        failed = Check(f"remove {removal.name}", Status.FAIL, f"stopped: {reason}; the answers still list it", hint)
        return Report("node remove", (failed,), {"changed": progress.changed}, title=f"{removal.name} not removed")
    if not args.check:
        write_text_atomic(
            state.installed_answers, installed_answers_text(removal.remaining, f"{removal.name} removed"), 0o600
        )
        write_text_atomic(state.inventory, inventory_text(removal.remaining))
    verb = "would be" if args.check else "was"
    checks = (
        Check(
            f"remove {removal.name}",
            Status.PASS,
            f"{removal.name} ({removal.node.role}) {verb} drained, deleted from the cluster and reset "
            f"({progress.changed} change(s)); the installed answers {'would ' if args.check else ''}list "
            f"{len(removal.remaining.nodes)} node(s)",
        ),
    )
    title = f"Node {removal.name} " + ("(check mode: nothing changed)" if args.check else "removed")
    return Report("node remove", checks, {"changed": progress.changed}, title=title)


@dataclass(frozen=True)
class Addition:
    name: str
    node: Node
    answers: Answers
    again: bool = False
    """The installed answers already name the node: an earlier addition joined it and stopped after."""


def plan_addition(installed: Answers, wanted: Answers, name: str) -> Addition:
    """`wanted` must be `installed` plus node `name` and nothing else (the bundle may be mounted
    elsewhere), and every existing node must keep its setup (pure)."""
    from greenzone.deploy.inventory import build_inventory, inventory_name

    before = {inventory_name(node, index): node for index, node in enumerate(installed.nodes)}
    after = {inventory_name(node, index): node for index, node in enumerate(wanted.nodes)}
    if name not in after:
        raise InputError(
            f"the answers have no node {name!r}", hint="add it under `nodes:` (name, address, role, ssh) and run again"
        )
    again = name in before and before == after
    added, gone = set(after) - set(before), set(before) - set(after)
    changed = [key for key in before if key in after and before[key] != after[key]]
    if not again and (gone or changed or added != {name}):
        if name in before:
            raise InputError(f"{name} is already a node of this appliance", hint=f"its nodes: {', '.join(before)}")
        parts = [f"removed: {', '.join(sorted(gone))}"] if gone else []
        parts += [f"changed: {', '.join(changed)}"] if changed else []
        parts += [f"also added: {', '.join(sorted(added - {name}))}"] if added - {name} else []
        raise InputError(
            f"the answers differ from the installed ones in more than the new node {name} ({'; '.join(parts)})",
            hint="add one node at a time; to change other nodes use `greenzone install` or `greenzone node remove`",
        )
    others = [
        key
        for key in type(installed).model_fields
        if key not in ("nodes", "bundle") and getattr(installed, key) != getattr(wanted, key)
    ]
    if others:
        raise InputError(
            f"the answers also change {', '.join(others)}",
            hint="adding a node changes nothing else; change those with `greenzone install --answers FILE`",
        )
    hosts_before, hosts_after = _hosts(build_inventory(installed)), _hosts(build_inventory(wanted))
    moved = sorted(host for host, found in hosts_before.items() if hosts_after.get(host) != found)
    if moved and not again:
        raise InputError(
            f"with {name} the setup of {', '.join(moved)} changes too (e.g. the first agent takes the GPU "
            "workloads from the servers)",
            hint="run `greenzone install --answers FILE` with these answers: it sets up every node again",
        )
    return Addition(name, after[name], wanted, again)


def _hosts(inventory: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def walk(group: dict[str, Any]) -> None:
        for host, variables in (group.get("hosts") or {}).items():
            found[host] = variables
        for child in (group.get("children") or {}).values():
            walk(child)

    walk(inventory["all"])
    return found


ADD_PHASES = ("preflight", "k3s", "images")


def node_add(args: argparse.Namespace) -> Report:
    from greenzone.answers.files import load_valid_answers
    from greenzone.atomic import scratch_directory

    state, installed = _installed(args)
    addition = plan_addition(installed, load_valid_answers(args.answers), args.name)
    _refuse_other_bundle(state, addition.answers.bundle.path)
    if args.check:
        with scratch_directory(".greenzone-node-check-") as scratch:
            work = state.scratch_copy(scratch / "state")
            checks, stopped, _ = _add(work, addition, args)
            state.keep_check_log(work.install_log)
        title = f"Node {addition.name} (check mode: nothing changed)"
        return Report("node add", (*checks, *stopped), {}, title=title)
    if not args.yes:
        node = addition.node
        _confirm(f"Add {addition.name} ({node.role}) to the appliance?", f"adding {addition.name}")
    kept = {path: (path.read_bytes(), path.stat().st_mode & 0o777) for path in _files(state) if path.is_file()}
    joined = False
    try:
        checks, stopped, joined = _add(state, addition, args, kept)
    except BaseException:
        _settle(state, kept, addition, joined)
        raise
    _settle(state, kept, addition, joined)
    if stopped:
        return Report("node add", (*checks, *stopped), {}, title=f"{addition.name} not added")
    checks.append(_wait_ready(state, addition, args))
    checks.append(_health_after(state, addition))
    return Report("node add", tuple(checks), {}, title=f"Node {addition.name} added")


def _refuse_other_bundle(state: StateDir, bundle: Path) -> None:
    """The new node runs what the others run: the installed bundle, wherever it is mounted now."""
    manifest = bundle / "bundle.yaml"
    if not manifest.is_file():
        raise InputError(
            f"the bundle {bundle} is not on this machine: the new node's k3s and images come from it",
            hint="mount the drive or copy the bundle back, and set bundle.path in the answers",
        )
    if state.installed_manifest.is_file() and manifest.read_bytes() != state.installed_manifest.read_bytes():
        raise InputError(
            f"the bundle {bundle} is not the one the appliance runs",
            hint="give the installed bundle; a new one is an upgrade, for every node at once",
        )


def _add(
    work: StateDir, addition: Addition, args: argparse.Namespace, kept: dict[Path, tuple[bytes, int]] | None = None
) -> tuple[list[Check], tuple[Check, ...], bool]:
    """The phases on the new node alone; (passed checks, the stop if any, whether k3s joined it)."""
    from greenzone.deploy.runner import PlaybookRunner
    from greenzone.deploy.workspace import prepare
    from greenzone.install.gate import parse_forced

    workspace = prepare(addition.answers, work, source=str(args.answers), bundle=addition.answers.bundle.path)
    if kept is not None:  # the installed answers keep naming what is installed until the node joined
        for path in (work.installed_answers, work.installed_manifest):
            _put_back(path, kept)
    extravars = {**workspace.extravars, "greenzone_force_preflight": sorted(parse_forced(args.force_preflight))}
    runner = PlaybookRunner(work, extravars, limit=addition.name)
    checks: list[Check] = []
    joined = addition.again
    for phase in ADD_PHASES:
        progress = runner.run(phase, check=args.check, skip_tags=tuple(args.skip_tags or ()))
        if progress.outcome != "successful":
            reason = "; ".join(failure.line() for failure in progress.failures) or progress.outcome
            hint = (
                f"fix it (the log: {work.install_log}); "
                + ("it has joined: run the same `greenzone node add` again to finish, or `greenzone node remove`"
                   if joined else "then run `greenzone node add` again")
            )  # fmt: skip
            where = "the installed answers list it" if joined else "the installed answers do not list it"
            stop = Check(f"{phase} on {addition.name}", Status.FAIL, f"stopped: {reason}; {where}", hint, "node add")
            return checks, (stop,), joined
        joined = joined or (phase == "k3s" and not args.check)
        checks.append(
            Check(f"{phase} on {addition.name}", Status.PASS, f"{progress.changed} change(s)", group="node add")
        )
    return checks, (), joined


def _settle(state: StateDir, kept: dict[Path, tuple[bytes, int]], addition: Addition, joined: bool) -> None:
    """After the run: a joined node is named in the installed answers (a later run finishes or
    removes it); otherwise everything the run rewrote is put back as it was, modes included."""
    from greenzone.atomic import write_text_atomic
    from greenzone.deploy.workspace import installed_answers_text

    if joined:
        write_text_atomic(
            state.installed_answers, installed_answers_text(addition.answers, f"{addition.name} added"), 0o600
        )
        return
    for path in _files(state):
        _put_back(path, kept)


def _put_back(path: Path, kept: dict[Path, tuple[bytes, int]]) -> None:
    from greenzone.atomic import write_bytes_atomic

    if path in kept:
        data, mode = kept[path]
        write_bytes_atomic(path, data, mode)
    else:
        path.unlink(missing_ok=True)


def _files(state: StateDir) -> list[Path]:
    """What `prepare` may rewrite, kept to be put back when the addition stops before the join."""
    values = sorted(state.values_dir.glob("*.yaml")) if state.values_dir.is_dir() else []
    return [
        state.inventory,
        state.playbook_vars_file,
        state.installed_answers,
        state.installed_manifest,
        state.credentials,
        state.ca_certificate,
        *values,
    ]


NODE_POLL_SECONDS = 10.0


def _wait_ready(state: StateDir, addition: Addition, args: argparse.Namespace) -> Check:
    """The gate: the joined node Ready and, where GPU work goes, its GPUs offered by the operator
    (health.node_gate), polled until `--wait` runs out. Told, not undone: the node is in."""
    import socket
    import time

    from greenzone.deploy.inventory import build_inventory
    from greenzone.health.node_gate import new_node_gate
    from greenzone.health.readers.cluster import KubeReads, reason
    from greenzone.health.readers.deadline import Deadline
    from greenzone.health.targets import health_targets
    from greenzone.install.gate import comma_list

    name = addition.node.name or addition.name
    skipped = comma_list(args.skip_tags)
    if "cluster" in skipped or not state.kubeconfig.is_file():
        why = "cluster tasks skipped" if "cluster" in skipped else f"no kubeconfig at {state.kubeconfig}"
        return Check(f"{name} ready", Status.SKIP, f"not checked: {why}", group="node add")
    variables = _hosts(build_inventory(addition.answers)).get(addition.name, {})
    expects_gpu = (
        bool(variables.get("greenzone_gpu_node")) and addition.answers.gpu.expected_count != 0 and "gpu" not in skipped
    )
    addresses = [a for a in (addition.node.ip, addition.node.address) if a and a != "local"]
    targets = health_targets(addition.answers, state, [], {}, hostname=socket.gethostname())
    deadline = time.monotonic() + args.wait
    while True:
        reads = KubeReads(targets, Deadline(20.0))
        if reads.error:  # an unusable kubeconfig: waiting will not fix it
            return Check(f"{name} ready", Status.WARN, f"not checked: {reads.error}", group="node add")
        try:
            nodes = reads.json("/api/v1/nodes").get("items") or []
            pods = reads.json(f"/api/v1/namespaces/{targets.operator_namespace}/pods").get("items") or []
        except Exception as error:  # the API not answering now is one more reason to wait
            if getattr(error, "status", None) in (401, 403):
                return Check(
                    f"{name} ready", Status.WARN, f"not checked: the API refused: {reason(error)}", group="node add"
                )
            gate = None
            last = f"the Kubernetes API did not answer: {reason(error)}"
        else:
            gate = new_node_gate(
                name,
                nodes,
                pods,
                expects_gpu=expects_gpu,
                operator_namespace=targets.operator_namespace,
                addresses=addresses,
            )
            if gate.done:
                return gate.check
            last = gate.check.detail
        if time.monotonic() + NODE_POLL_SECONDS > deadline:
            remedy = gate.check.remedy if gate else "`greenzone health --layer cluster`"
            return Check(
                f"{name} ready",
                Status.WARN,
                f"not ready within {args.wait:.0f} s: {last}",
                f"{remedy}; the node is in the appliance (`greenzone node remove {addition.name}` takes it out)",
                group="node add",
            )
        time.sleep(NODE_POLL_SECONDS)


def _health_after(state: StateDir, addition: Addition) -> Check:
    """The gate: health once the node joined. Told, like after an install (the node is in)."""
    from greenzone.bundle.manifest import read_bundle_manifest
    from greenzone.install.session import InstallSession

    _, manifest = read_bundle_manifest(addition.answers.bundle.path)
    report = InstallSession(state).health(addition.answers, manifest)
    failing = [check.name for check in report.checks if check.status is Status.FAIL]
    if not failing:
        return Check("health", Status.PASS, "every layer works with the new node", group="node add")
    return Check(
        "health",
        Status.WARN,
        f"after the join, health fails: {', '.join(failing[:6])}",
        "`greenzone health` names each with its fix",
        "node add",
    )

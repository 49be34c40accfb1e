"""`greenzone node remove NAME`: retire one node of a running appliance.

What is refused is refused before anything changes, by the same answer rules as an install: the
answers without the node must still be a valid appliance (an odd number of servers for etcd's
quorum, the departments' GPU quotas...). Then `playbooks/node-remove.yml` drains it (respecting the
PodDisruptionBudgets unless `--force`), deletes its Node (which also removes a server's etcd member),
resets it with the same role as `greenzone reset`, and the installed answers and inventory are
rewritten without it.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass

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


def _confirm(removal: Removal, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise InputError(
            f"removing {removal.name} needs a confirmation; nothing was changed", hint="pass --yes in automation"
        )
    try:
        reply = input(f"Drain and remove {removal.name} ({removal.node.role}) from the appliance? [y/N] ").strip()
    except EOFError:
        reply = ""
    if reply.lower() not in ("y", "yes"):
        raise InputError("not confirmed; nothing was changed", hint="answer y, or pass --yes")


def node_remove(args: argparse.Namespace) -> Report:
    from greenzone.answers.dump import answers_yaml
    from greenzone.answers.files import load_valid_answers
    from greenzone.atomic import scratch_directory, write_text_atomic
    from greenzone.deploy.inventory import build_inventory
    from greenzone.deploy.runner import PlaybookRunner

    state = StateDir.locate(args.state_dir)
    if not state.installed_answers.is_file():
        raise InputError(
            f"nothing is installed from {state}", hint="run it on the machine that installed the appliance"
        )
    answers = load_valid_answers(state.installed_answers)
    removal = plan_removal(answers, args.name)
    if not args.check:
        _confirm(removal, args.yes)
    extravars = {
        **state.playbook_vars([]),
        "node_remove_name": removal.name,
        "node_remove_force": bool(args.force),
        "reset_keep_models": bool(args.keep_models),
        "reset_releases": [],
    }
    skip = () if state.kubeconfig.is_file() else ("cluster",)
    inventory = json.dumps(build_inventory(answers), indent=2, sort_keys=True) + "\n"
    with scratch_directory(".greenzone-node-") as scratch:
        work = StateDir(scratch / "state") if args.check else state
        if args.check or not state.inventory.is_file():
            write_text_atomic(work.inventory, inventory)
        runner = PlaybookRunner(work, extravars, playbook="node-remove.yml")
        progress = runner.run("node_remove", check=args.check, skip_tags=skip)
        if args.check:
            state.keep_check_log(work.install_log)
    log = state.check_log if args.check else state.install_log
    if progress.outcome != "successful":
        reason = "; ".join(failure.line() for failure in progress.failures) or progress.outcome
        hint = f"the log: {log}; run it again once fixed"
        if "drain" in reason.lower():
            hint = "a PodDisruptionBudget keeps the last replica there: add a node first, or pass --force; " + hint
        failed = Check(f"remove {removal.name}", Status.FAIL, f"stopped: {reason}; the answers still list it", hint)
        return Report("node remove", (failed,), {"changed": progress.changed}, title=f"{removal.name} not removed")
    if not args.check:
        write_text_atomic(
            state.installed_answers, answers_yaml(removal.remaining, f"{removal.name} removed by greenzone"), 0o600
        )
        write_text_atomic(
            state.inventory, json.dumps(build_inventory(removal.remaining), indent=2, sort_keys=True) + "\n"
        )
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

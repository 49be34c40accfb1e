"""`greenzone reset`: the whole appliance back to clean machines, for a failed first install or a
fresh start.

The nodes are reset by `playbooks/reset.yml` over the same Ansible path as the install (the Helm
releases uninstalled, k3s removed by its own uninstall scripts, then what greenzone put there; the
model store only without `--keep-models`); then the state directory is moved to a dated backup, its
logs and credentials with it (mode kept), so that nothing is lost and a new install starts empty.
A typed confirmation (the appliance's name) guards it on a terminal, `--yes` for automation,
`--check` predicts and changes nothing.
"""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenzone.answers.model import Answers
from greenzone.deploy.ansible_events import PhaseProgress
from greenzone.errors import InputError
from greenzone.results import Check, Report, Status
from greenzone.statedir import StateDir

if TYPE_CHECKING:
    from greenzone.deploy.runner import PlaybookRunner


@dataclass(frozen=True)
class ResetPlan:
    """What a reset removes and where the state goes (pure: answers and names in, lines out)."""

    answers: Answers
    releases: tuple[tuple[str, str], ...]
    """(name, namespace), newest first."""
    keep_models: bool
    state_entries: tuple[str, ...]
    backup: Path

    def lines(self) -> list[tuple[str, str]]:
        from greenzone.deploy.inventory import inventory_name

        found = []
        if self.releases:
            found.append(("Helm releases", "uninstall " + ", ".join(name for name, _ in self.releases)))
        for index, node in enumerate(self.answers.nodes):
            script = "k3s-uninstall.sh" if node.role == "server" else "k3s-agent-uninstall.sh"
            where = "this machine" if node.address == "local" else f"{node.ssh.user}@{node.address}"
            models = "kept" if self.keep_models else "removed"
            found.append(
                (
                    f"node {inventory_name(node, index)}",
                    f"{where}: k3s removed by its {script}, greenzone's files removed; model store {models}",
                )
            )
        entries = ", ".join(self.state_entries) or "nothing"
        found.append(("state directory", f"moved to {self.backup} (logs and credentials kept there): {entries}"))
        return found


def plan_reset(answers: Answers, state: StateDir, *, keep_models: bool, now: datetime.datetime) -> ResetPlan:
    from greenzone.values.releases import appliance_releases

    releases = tuple((release.name, release.namespace) for release in reversed(appliance_releases(answers)))
    backup = state.root.with_name(f"{state.root.name}.reset-{now.strftime('%Y%m%dT%H%M%SZ')}")
    return ResetPlan(answers, releases, keep_models, _state_entries(state), backup)


def _state_entries(state: StateDir) -> tuple[str, ...]:
    """What moves to the backup: the entries the state directory names (its files, logs, values,
    tools), never anything else there: the node-owned model store and bundle copy that the default
    state directory (/var/lib/greenzone) also holds on the local node stay for the role to judge."""
    return tuple(path.name for path in state.owned())


def _answers(args: argparse.Namespace, state: StateDir) -> Answers | None:
    from greenzone.answers.files import load_valid_answers

    if args.answers is not None:
        return load_valid_answers(args.answers)
    if state.installed_answers.is_file():
        return load_valid_answers(state.installed_answers)
    return None


def _confirm(answers: Answers) -> None:
    name = answers.appliance.name
    if not sys.stdin.isatty():
        raise InputError(
            "reset removes the whole appliance and needs a confirmation; nothing was changed",
            hint="on a terminal, type the appliance's name when asked; in automation pass --yes",
        )
    try:
        typed = input(f"This removes the appliance {name!r} from every node. Type its name to go on: ").strip()
    except EOFError:
        typed = ""
    if typed != name:
        raise InputError(f"{typed!r} is not the appliance's name; nothing was changed", hint=f"type {name}")


def reset(args: argparse.Namespace) -> Report:
    state = StateDir.locate(args.state_dir)
    answers = _answers(args, state)
    if answers is None:
        return Report(
            "reset",
            (Check("reset", Status.PASS, f"nothing is installed from {state}: nothing to reset, nothing changed"),),
            {"changed": 0},
            title="Nothing to reset",
        )
    plan = plan_reset(answers, state, keep_models=args.keep_models, now=datetime.datetime.now(datetime.UTC))
    if not args.check and not args.yes:
        _confirm(answers)
    return run_reset(state, answers, plan, check=args.check)


def run_reset(state: StateDir, answers: Answers, plan: ResetPlan, *, check: bool) -> Report:
    """The reset itself, once confirmed: the playbook on every node, then the state directory to its
    backup. Shared by `greenzone reset` and the install wizard's offer after an unfinished install."""
    progress, log = _run_playbook(state, answers, plan, check=check)
    checks = [
        Check(name, Status.PASS, ("would " if check else "") + detail, group="plan" if check else "reset")
        for name, detail in plan.lines()
    ]
    if progress.outcome != "successful":
        reason = "; ".join(failure.line() for failure in progress.failures) or progress.outcome
        failed = Check(
            "nodes",
            Status.FAIL,
            f"the reset stopped: {reason}; the state directory was left where it is",
            f"fix that node (the log: {log}) and run `greenzone reset` again; what is gone stays gone",
            "reset",
        )
        return Report("reset", (failed,), {"changed": progress.changed}, title="Reset stopped")
    if not check:
        _move_state(state, plan)
    verb = "predicted" if check else "made"
    changed = progress.changed
    checks.append(
        Check(
            "nodes",
            Status.PASS,
            f"{changed} change(s) {verb} on the nodes" if changed else "nothing left to remove",
            group="reset",
        )
    )
    title = "Reset (check mode: nothing changed)" if check else f"Reset; the old state is in {plan.backup}"
    return Report("reset", tuple(checks), {"changed": changed, "backup": str(plan.backup)}, title=title)


def _run_playbook(state: StateDir, answers: Answers, plan: ResetPlan, *, check: bool) -> tuple[PhaseProgress, Path]:
    extravars = {
        "reset_keep_models": plan.keep_models,
        "reset_releases": [{"name": name, "namespace": namespace} for name, namespace in plan.releases],
    }
    return play_on_nodes(state, answers, "reset.yml", "reset", extravars, check=check)


def play_on_nodes(
    state: StateDir,
    answers: Answers,
    playbook: str,
    tag: str,
    extravars: dict[str, Any],
    *,
    check: bool,
    limit: str | None = None,
    on_runner: Callable[[PlaybookRunner], None] | None = None,
) -> tuple[PhaseProgress, Path]:
    """One of the day-2 playbooks (reset.yml, node-remove.yml) on the nodes of `answers`, with an
    inventory written from those answers (--answers may leave out a dead node; never an older one)
    and the `cluster` tasks skipped where no kubeconfig exists. Check mode works in a throw-away
    state directory and keeps only its log. Returns the phase's progress and where its log is."""
    from greenzone.atomic import scratch_directory, write_text_atomic
    from greenzone.deploy.inventory import inventory_text
    from greenzone.deploy.runner import PlaybookRunner

    variables = {**state.playbook_vars([]), **extravars}
    skip = () if state.kubeconfig.is_file() else ("cluster",)  # no kubeconfig: no API to act on
    if check:
        with scratch_directory(".greenzone-day2-check-") as scratch:
            work = StateDir(scratch / "state")
            write_text_atomic(work.inventory, inventory_text(answers))
            runner = PlaybookRunner(work, variables, playbook=playbook, limit=limit)
            progress = runner.run(tag, check=True, skip_tags=skip)
            state.keep_check_log(work.install_log)
            return progress, state.check_log
    write_text_atomic(state.inventory, inventory_text(answers))
    runner = PlaybookRunner(state, variables, playbook=playbook, limit=limit)
    if on_runner is not None:  # a front end that cancels from another thread
        on_runner(runner)
    return runner.run(tag, skip_tags=skip), state.install_log


def _move_state(state: StateDir, plan: ResetPlan) -> None:
    if not plan.state_entries:
        return
    plan.backup.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in plan.state_entries:
        source = state.root / name
        if source.exists() or source.is_symlink():
            source.replace(plan.backup / name)

"""ansible-runner events -> the install's progress model (pure).

The TUI, the line-per-event mode and the JSON mode all read the same `PhaseProgress`; this module
is the only place that knows the shape of Ansible's events. A failed task becomes one `Failure`
(host, task, the module's message), never the raw result JSON.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from greenzone.redact import REDACTOR

Outcome = Literal["running", "successful", "failed", "canceled"]
_HIDDEN = "the output is hidden because the task handles a secret (no_log)"


@dataclass(frozen=True)
class Failure:
    host: str
    task: str
    message: str

    def line(self) -> str:
        return f"{self.host}: {self.task}: {self.message}"


@dataclass
class PhaseProgress:
    phase: str
    tasks_total: int
    started: float
    task_index: int = 0
    task: str = ""
    ok: int = 0
    changed: int = 0
    failed: int = 0
    skipped: int = 0
    unreachable: int = 0
    outcome: Outcome = "running"
    finished: float | None = None
    failures: list[Failure] = field(default_factory=list)
    changes: list[str] = field(default_factory=list)
    """`host: task` for every change, so that a run can say what it changed (or that it changed nothing)."""

    @property
    def fraction(self) -> float:
        """Share of the phase done: whole only when it succeeded; a failed or canceled phase stays
        where it stopped, so no bar claims it finished."""
        if self.outcome == "successful":
            return 1.0
        return min(self.task_index / self.tasks_total, 0.99) if self.tasks_total else 0.0

    def elapsed(self, now: float) -> float:
        return (self.finished or now) - self.started

    def summary(self) -> str:
        counts = f"{self.ok} ok, {self.changed} changed, {self.failed} failed, {self.skipped} skipped"
        if self.unreachable:
            counts += f", {self.unreachable} unreachable"
        return f"{self.phase}: {self.outcome} ({counts})"


def _tail(text: str, lines: int = 3) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " / ".join(kept)


def failure_message(result: Mapping[str, Any]) -> str:
    """The one line an operator needs from a failed module result."""
    if result.get("censored"):
        return _HIDDEN
    if isinstance(result.get("results"), list):
        for item in result["results"]:
            if isinstance(item, Mapping) and item.get("failed"):
                # Ansible passes loop_control's label along; without one, a plain item is its own label.
                label = item.get("_ansible_item_label", item.get("item"))
                if isinstance(label, Mapping):
                    label = label.get("name")
                return f"[{label}] {failure_message(item)}" if label is not None else failure_message(item)
    message = str(result.get("msg") or "").strip()
    stderr = _tail(str(result.get("stderr") or ""))
    if stderr and (not message or message.startswith("non-zero return code")):
        message = f"exit {result.get('rc')}: {stderr}"
    elif not message and result.get("stdout"):
        message = _tail(str(result["stdout"]))
    if result.get("unreachable") and not message:
        message = "host unreachable"
    return re.sub(r"\s+", " ", message) or "failed without a message"


def apply_event(progress: PhaseProgress, event: Mapping[str, Any]) -> str | None:
    """Fold one event into `progress`; return a line worth printing, if any."""
    kind = event.get("event", "")
    data: Mapping[str, Any] = event.get("event_data") or {}
    task = str(data.get("task") or "")
    role = data.get("role")
    label = f"{role} : {task}" if role else task
    host = str(data.get("host") or "")
    result: Mapping[str, Any] = data.get("res") or {}
    if kind in ("playbook_on_task_start", "playbook_on_handler_task_start"):
        if str(data.get("task_action", "")).endswith("gather_facts"):
            progress.task = "Gathering facts"  # implicit, so not in --list-tasks: not counted either
            return None
        progress.task_index += 1
        progress.task = label
        return f"[{progress.phase}] task {progress.task_index}/{progress.tasks_total}: {label}"
    if kind == "runner_on_ok":
        progress.ok += 1
        if result.get("changed"):
            progress.changed += 1
            progress.changes.append(f"{host}: {label}")
            return f"[{progress.phase}] changed {host}: {label}"
        return None
    if kind == "runner_on_skipped":
        progress.skipped += 1
        return None
    if kind == "runner_on_failed":
        if data.get("ignore_errors"):
            progress.ok += 1
            return None
        progress.failed += 1
        # Redacted here, once: the message goes on to the screen, the JSON events, the install state
        # and the report, and a module may echo a registered secret back (install.log is redacted too).
        failure = Failure(host, label, REDACTOR.redact(failure_message(result)))
        progress.failures.append(failure)
        return f"[{progress.phase}] FAILED {failure.line()}"
    if kind == "runner_on_unreachable":
        progress.unreachable += 1
        failure = Failure(host, label, REDACTOR.redact(f"unreachable: {failure_message(result)}"))
        progress.failures.append(failure)
        return f"[{progress.phase}] UNREACHABLE {failure.line()}"
    return None


_LISTED_TASK = re.compile(r"^ {6}\S.*\tTAGS: \[(?P<tags>[^\]]*)\]$")
_LISTED_PLAY = re.compile(r"^ {2}play #\d+ \((?P<hosts>[^)]*)\):")


def tasks_per_phase(listing: str, phases: Sequence[str], empty_groups: Collection[str] = ()) -> dict[str, int]:
    """How many tasks a run of each phase (`--tags PHASE`) starts, from one `--list-tasks` of the
    whole playbook: the phase's own tasks plus every play's `always` tasks (the argument-spec
    checks), which Ansible runs whatever the tags. Dynamic includes are counted once."""
    counts = dict.fromkeys(phases, 0)
    skipping = False
    for line in listing.splitlines():
        play = _LISTED_PLAY.match(line)
        if play is not None:  # a play on an empty group (no agents) runs nothing, `always` tasks included
            skipping = play["hosts"] in empty_groups
            continue
        match = None if skipping else _LISTED_TASK.match(line)
        if match is None:
            continue
        tags = {tag.strip() for tag in match["tags"].split(",")}
        for phase in phases:
            if phase in tags or "always" in tags:
                counts[phase] += 1
    return counts

"""What the unattended install prints: one event per line, as text or as JSON (pure).

Text lines are for a person tailing a console or a CI log; `--output json` gives one JSON object per
line (JSON Lines) for fleet tooling. Both come from the same `InstallEvent`, so a field shown to the
person is also in the JSON.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from greenzone.deploy.ansible_events import PhaseProgress
from greenzone.results import Check

EventKind = Literal["step", "check", "verify", "plan", "task", "phase", "result"]


@dataclass(frozen=True)
class InstallEvent:
    kind: EventKind
    name: str
    status: str = ""
    detail: str = ""
    fields: Mapping[str, Any] = field(default_factory=dict)
    time: float = field(default_factory=time.time)

    def to_json(self) -> str:
        document = {
            "event": self.kind,
            "name": self.name,
            "status": self.status,
            "detail": self.detail,
            "time": round(self.time, 3),
            **self.fields,
        }
        return json.dumps(document, sort_keys=False)

    def line(self) -> str:
        status = f" [{self.status}]" if self.status else ""
        detail = f": {self.detail}" if self.detail else ""
        return f"{self.kind:<6} {self.name}{status}{detail}"


def check_event(check: Check) -> InstallEvent:
    detail = check.detail + (f" — fix: {check.remedy}" if check.remedy else "")
    return InstallEvent("check", check.name, check.status.value, detail, {"group": check.group})


def task_event(progress: PhaseProgress, line: str) -> InstallEvent:
    """A line from the runner (a task started, a change, a failure) inside a phase."""
    return InstallEvent(
        "task",
        progress.phase,
        "",
        line,
        {
            "task_index": progress.task_index,
            "tasks_total": progress.tasks_total,
            "fraction": round(progress.fraction, 3),
        },
    )


def phase_event(progress: PhaseProgress) -> InstallEvent:
    return InstallEvent(
        "phase",
        progress.phase,
        progress.outcome,
        progress.summary(),
        {
            "changed": progress.changed,
            "failed": progress.failed,
            "seconds": round(progress.elapsed(time.time()), 1),
            "failures": [failure.line() for failure in progress.failures],
        },
    )

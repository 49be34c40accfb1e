"""The one result model shared by preflight, answers validation, bundle verify, health and parity.

Every command that judges something returns a `Report` of `Check`s; one renderer turns it into a
table, one into JSON, and one rule turns it into the exit code. Keeping this pure (no rich, no I/O)
lets the TUI, the unattended mode and monitoring scripts read exactly the same verdicts.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

#: Bumped whenever a key of the JSON envelope changes meaning or disappears; adding keys is allowed.
RESULTS_SCHEMA_VERSION = 1


class Status(enum.StrEnum):
    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"


class ExitCode(enum.IntEnum):
    """Exit codes of every `greenzone` command, documented in the README.

    0-2 come from the checks a command ran; the others mean the command could not run its checks.
    """

    OK = 0
    WARN = 1
    FAIL = 2
    INPUT = 3  # the user's input (a file, an option) is wrong or missing
    ENVIRONMENT = 4  # this machine lacks something the command needs (a permission, a tool)
    INTERNAL = 70  # a bug: the traceback is in the log file
    INTERRUPTED = 130


@dataclass(frozen=True)
class Check:
    """One verdict. `remedy` says what the operator should do; it is empty only for passing checks."""

    name: str
    status: Status
    detail: str = ""
    remedy: str = ""
    group: str = ""
    location: str = ""

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status.value,
            "detail": self.detail,
            "remedy": self.remedy,
            "group": self.group,
            "location": self.location,
        }


def verdict(name: str, status: Status, detail: str, remedy: str = "", group: str = "") -> Check:
    """A judged check: the remedy is kept only when the check did not pass, so rules can state their
    fix once, beside the condition, whatever the outcome."""
    return Check(name, status, detail, remedy if status is not Status.PASS else "", group)


_SEVERITY = {Status.SKIP: 0, Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


def overall_status(checks: Iterable[Check]) -> Status:
    """The worst status among the checks; skipped checks count as passing, no checks at all pass."""
    worst = Status.PASS
    for check in checks:
        if _SEVERITY[check.status] > _SEVERITY[worst]:
            worst = check.status
    return worst


def exit_code(checks: Iterable[Check]) -> ExitCode:
    """0 when everything passed (or was skipped), 1 when anything warned, 2 when anything failed."""
    return {Status.PASS: ExitCode.OK, Status.WARN: ExitCode.WARN, Status.FAIL: ExitCode.FAIL}[overall_status(checks)]


@dataclass(frozen=True)
class Report:
    """What a judging command returns: its checks plus command-specific data (e.g. the GPU table)."""

    command: str
    checks: tuple[Check, ...]
    data: Mapping[str, Any] = field(default_factory=dict)
    title: str = ""
    grouped: bool = False
    """Show one table per check group (health's layers) instead of one table."""

    @property
    def status(self) -> Status:
        return overall_status(self.checks)

    @property
    def exit_code(self) -> ExitCode:
        return exit_code(self.checks)

    def counts(self) -> dict[str, int]:
        counts = {status.value: 0 for status in Status}
        for check in self.checks:
            counts[check.status.value] += 1
        return counts

    def tally(self) -> str:
        """`12 pass, 1 fail`: the statuses present, in the order Status lists them."""
        counts = self.counts()
        return ", ".join(f"{counts[status.value]} {status.value}" for status in Status if counts[status.value])

    def to_dict(self) -> dict[str, Any]:
        """The JSON envelope; `tests/test_results_contract.py` pins its keys."""
        return {
            "schema_version": RESULTS_SCHEMA_VERSION,
            "command": self.command,
            "status": self.status.value,
            "exit_code": int(self.exit_code),
            "counts": self.counts(),
            "checks": [check.to_dict() for check in self.checks],
            "data": dict(self.data),
        }


@dataclass(frozen=True)
class Finished:
    """A report whose exit code is its flow's own (an install canceled by Ctrl-C exits 130, not 2),
    with lines to show after the table (where to reach what was installed)."""

    report: Report
    exit_code: ExitCode
    notes: tuple[str, ...] = ()

"""Phase outcomes -> the shared result model, for `greenzone deploy` and `greenzone install` alike."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from greenzone.deploy.ansible_events import PhaseProgress
from greenzone.deploy.state import InstallState
from greenzone.results import Check, ExitCode, Report, Status


def phase_checks(
    selected: Sequence[str],
    ran: Sequence[PhaseProgress],
    state: InstallState,
    inputs: str,
    log_file: Path,
    *,
    check: bool = False,
) -> tuple[Check, ...]:
    """`check`: Ansible's check mode ran, so changes are what would change."""
    checks = []
    by_name = {progress.phase: progress for progress in ran}
    canceled = any(progress.outcome == "canceled" for progress in ran)
    for phase in selected:
        progress = by_name.get(phase)
        if progress is None:
            record = state.phases.get(phase)
            done = record is not None and record.status == "done" and record.inputs == inputs
            checks.append(
                Check(
                    phase,
                    Status.PASS if done else Status.WARN,
                    "done earlier with these answers and bundle; skipped"
                    if done
                    else "not run (the install was canceled before it)"
                    if canceled
                    else "not run (an earlier phase failed)",
                    ""
                    if done
                    else "run the same command again to resume"
                    if canceled
                    else "fix the failed phase first; this one runs after it",
                    group="deploy",
                )
            )
        elif progress.outcome == "successful":
            if check:
                what = f"{progress.changed} would change" if progress.changed else "nothing would change"
            else:
                what = f"{progress.changed} changed" if progress.changed else "no change"
            checks.append(Check(phase, Status.PASS, f"{what} in {progress.elapsed(0):.0f} s", group="deploy"))
        elif progress.outcome == "canceled":
            checks.append(
                Check(
                    phase,
                    Status.FAIL,
                    f"canceled after {progress.task_index} of {progress.tasks_total} tasks",
                    "run the same command again to resume at this phase",
                    group="deploy",
                )
            )
        else:
            detail = "; ".join(failure.line() for failure in progress.failures) or progress.outcome
            checks.append(
                Check(
                    phase,
                    Status.FAIL,
                    detail,
                    f"fix the cause, then run the same command again: finished phases are skipped (log: {log_file})",
                    group="deploy",
                )
            )
    return tuple(checks)


def run_exit_code(report: Report) -> ExitCode:
    """A canceled run exits 130 (interrupted) whatever its checks say; otherwise its checks decide.
    The one rule for the unattended install, `deploy` and the wizard."""
    return ExitCode.INTERRUPTED if report.data.get("outcome") == "canceled" else report.exit_code

"""`greenzone deploy`: run the install playbooks for an answer file, phase by phase, resumable.

The playbooks' own entry point for operators and vendor engineers who want one phase
(`--phase harbor`), a prediction (`--check`) or the idempotence check (`--rerun`). It is a front end
over the same install session as `greenzone install`, without this machine's preflight and the
bundle verification that the install adds in front (the nodes' preflight phase still runs).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from greenzone.answers.files import load_valid_answers
from greenzone.deploy.ansible_events import PhaseProgress
from greenzone.deploy.report import run_exit_code
from greenzone.install.gate import parse_forced
from greenzone.install.session import InstallSession
from greenzone.install.tracker import Tracker
from greenzone.results import Finished
from greenzone.statedir import StateDir


def _print_line(tracker: Tracker, progress: PhaseProgress, line: str | None) -> None:
    if line:
        print(line, file=sys.stderr, flush=True)


def deploy(args: argparse.Namespace) -> Finished:
    answers = load_valid_answers(args.answers)
    session = InstallSession(
        StateDir.locate(args.state_dir),
        check=args.check,
        skip_tags=tuple(args.skip_tags or ()),
        forced=parse_forced(args.force_preflight),
        only=tuple(args.phase or ()),
        rerun=args.rerun,
    )
    prepared = session.prepare(answers, args.answers.resolve(), args.bundle or answers.bundle.path)
    with session.cancel_on_signals():
        report = session.run(prepared, _print_line).report
    mode = " (check mode: nothing changed)" if args.check else ""
    report = dataclasses.replace(report, command="deploy", title=f"Install phases for {args.answers}{mode}")
    return Finished(report, run_exit_code(report))

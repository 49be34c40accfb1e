"""`greenzone deploy`: run the install playbooks for an answer file, phase by phase, resumable.

The unattended and TUI installs (`greenzone install`) add preflight, bundle verification and their
own displays on top of this; this command is the playbooks' own entry point for operators and
vendor engineers who want one phase (`--phase harbor`) or a prediction (`--check`).
"""

from __future__ import annotations

import argparse
import sys

from greenzone.answers.files import load_valid_answers
from greenzone.bundle.manifest import MANIFEST_NAME
from greenzone.deploy.events import PhaseProgress
from greenzone.deploy.plan import plan
from greenzone.deploy.report import phase_checks
from greenzone.deploy.runner import PlaybookRunner, run_phases
from greenzone.deploy.state import InstallState, answers_identity, inputs_digest
from greenzone.deploy.workspace import PLAYBOOKS_DIR, prepare
from greenzone.errors import InputError
from greenzone.logs import state_dir
from greenzone.results import Report


def _print_line(progress: PhaseProgress, line: str | None) -> None:
    if line:
        print(line, file=sys.stderr, flush=True)


def deploy(args: argparse.Namespace) -> Report:
    answers = load_valid_answers(args.answers)
    bundle = args.bundle or answers.bundle.path
    try:
        manifest_text = (bundle / MANIFEST_NAME).read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(
            f"cannot read the bundle manifest {bundle / MANIFEST_NAME}: {error.strerror}",
            hint="point bundle.path in the answers (or --bundle) at a verified bundle",
        ) from None
    phases = [phase.name for phase in plan(answers)]
    unknown = sorted(set(args.phase or ()) - set(phases))
    if unknown:
        raise InputError(f"no phase {', '.join(unknown)} for this appliance", hint=f"phases: {', '.join(phases)}")
    selected = [phase for phase in phases if phase in (args.phase or phases)]
    workspace = prepare(answers, state_dir(args.state_dir), source=args.answers.as_posix(), bundle=bundle)
    runner = PlaybookRunner(PLAYBOOKS_DIR, workspace.inventory_file, workspace.extravars, workspace.log_file)
    state = InstallState.load(workspace.state_file)
    inputs = inputs_digest(answers_identity(answers), manifest_text)
    ran = run_phases(
        runner, selected, state, inputs, check=args.check, skip_tags=args.skip_tags or (), listener=_print_line
    )
    checks = phase_checks(selected, ran, state, inputs, workspace.log_file)
    mode = " (check mode: nothing changed)" if args.check else ""
    return Report(command="deploy", checks=checks, title=f"Install phases for {args.answers}{mode}")

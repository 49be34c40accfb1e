"""`greenzone install`: the wizard on a terminal, or the unattended run from an answer file.

Both drive `install/session.py`. This module only chooses: the wizard's first screen must not wait
for what only later steps need (the session's models and workspace load after it is drawn), and the
unattended run lives in `commands/unattended.py`.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from greenzone.errors import InputError
from greenzone.install.gate import parse_forced
from greenzone.results import ExitCode, Finished, Report
from greenzone.statedir import StateDir

if TYPE_CHECKING:
    from greenzone.install.session import InstallSession
    from greenzone.tui.screens.reset import ResetOffer


def _wants_tui(args: argparse.Namespace) -> bool:
    return not args.no_tui and args.output == "text" and sys.stdin.isatty() and sys.stdout.isatty()


def _unfinished(state_dir: StateDir) -> bool:
    """What the install state says of the last install here; an unreadable state offers nothing."""
    from greenzone.deploy.plan import ALL_PHASES
    from greenzone.deploy.state import InstallState

    try:
        return InstallState.load(state_dir.install_state).unfinished(ALL_PHASES[-1].name)
    except InputError:
        return False


_VERSION_LINE = re.compile(rb"^product_version: *['\"]?([^'\"\n]+?)['\"]? *$", re.MULTILINE)


def _version(manifest: bytes) -> str:
    found = _VERSION_LINE.search(manifest)
    return found.group(1).decode("utf-8", "replace") if found else "?"


def _upgrade_offer(state_dir: StateDir, bundle: Path | None) -> tuple[tuple[str, str], Path] | None:
    """((installed version, the bundle's), the bundle) when an appliance runs here and the wizard should
    offer its upgrade first: an upgrade that did not finish (whatever bundle was given: the same
    command resumes it), or a given bundle other than the installed one (the newer drive's install.sh).
    Two byte comparisons and a line scan: nothing heavy may load before the first screen."""
    from greenzone.upgrade import history

    try:
        latest = history.latest(state_dir)
    except InputError:
        latest = None  # a damaged record: `greenzone upgrade` and `status` name it
    if latest is not None and latest.outcome in ("running", "failed", "canceled"):
        return (latest.from_product, latest.to_product), Path(latest.bundle)
    if bundle is None or not state_dir.installed_manifest.is_file() or _unfinished(state_dir):
        return None
    try:
        installed = state_dir.installed_manifest.read_bytes()
        carried = (bundle / "bundle.yaml").read_bytes()
    except OSError:
        return None
    if installed == carried:
        return None
    return (_version(installed), _version(carried)), bundle


def install(args: argparse.Namespace) -> ExitCode | Finished:
    state_dir = StateDir.locate(args.state_dir)
    forced = parse_forced(args.force_preflight)

    def session() -> InstallSession:
        from greenzone.install.session import InstallSession

        return InstallSession(state_dir, check=args.check, skip_tags=tuple(args.skip_tags or ()), forced=forced)

    if _wants_tui(args):
        from greenzone.tui.app import run_wizard

        # "Run the install again to resume": the wizard finds what the unfinished run saved.
        unfinished = _unfinished(state_dir) and state_dir.saved_answers.is_file()
        offer = None if args.check or args.answers is not None else _upgrade_offer(state_dir, args.bundle)

        def upgrade() -> ExitCode:
            from greenzone.tui.upgrade import run_upgrade_wizard
            from greenzone.upgrade.session import UpgradeOptions, UpgradeSession

            assert offer is not None
            return run_upgrade_wizard(UpgradeSession(state_dir, UpgradeOptions(bundle=offer[1])))

        return run_wizard(
            session,
            answers_file=args.answers,
            bundle=args.bundle,
            key=args.key,
            check=args.check,
            resume=state_dir.saved_answers if unfinished else None,
            upgrade=(offer[0], upgrade) if offer else None,
            # Check mode changes nothing: no reset is offered there.
            reset=None if args.check else lambda: _reset_offer(state_dir, debug=args.debug),
        )
    if args.answers is None:
        raise InputError(
            "the wizard needs a terminal, and no --answers file was given",
            hint="run `greenzone install` on a console, or `greenzone install --answers FILE --yes` unattended",
        )
    from greenzone.commands.unattended import unattended

    return unattended(session(), args)


def _reset_offer(state_dir: StateDir, *, debug: bool = False) -> ResetOffer | None:
    """`greenzone reset` for the wizard, when the unfinished install left answers it can act on."""
    import datetime

    from greenzone.answers.files import load_valid_answers
    from greenzone.commands.reset import plan_reset, run_reset
    from greenzone.errors import GreenzoneError
    from greenzone.tui.screens.reset import ResetOffer

    if not state_dir.installed_answers.is_file():
        return None
    try:
        answers = load_valid_answers(state_dir.installed_answers)
    except GreenzoneError:
        return None
    plan = plan_reset(answers, state_dir, keep_models=False, now=datetime.datetime.now(datetime.UTC))

    def run() -> Report:
        from greenzone import logs

        report = run_reset(state_dir, answers, plan, check=False)
        # The reset moved logs/ to the backup with the open log file; the new install logs here again.
        logs.setup_logging(state_dir, debug=debug)
        return report

    return ResetOffer(answers.appliance.name, tuple(plan.lines()), run)

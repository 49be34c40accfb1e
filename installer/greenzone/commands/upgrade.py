"""`greenzone upgrade`: a new bundle onto the running appliance, through `upgrade.session` (the plan,
its preflight, then the run with its health gates); this front end reads the options, prints, and asks
before anything changes. `--finalize` is `commands/finalize.py` (over `upgrade/cleanup.py`, which the next
upgrade also runs first); the way back is `greenzone rollback`.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from greenzone.commands.confirm import confirm
from greenzone.deploy.ansible_events import PhaseProgress
from greenzone.errors import InputError
from greenzone.results import ExitCode, Finished, Report
from greenzone.statedir import StateDir
from greenzone.upgrade.plan import UpgradePlan
from greenzone.upgrade.session import UpgradeOptions, UpgradeSession, assess, run_upgrade


def _options(args: argparse.Namespace) -> UpgradeOptions:
    from greenzone.health.targets import parse_endpoints
    from greenzone.install.gate import parse_forced

    return UpgradeOptions(
        bundle=args.bundle,
        answers=args.answers,
        accept_failing=frozenset(args.accept_failing or ()),
        allow_downgrade=args.allow_downgrade,
        skip_tags=tuple(args.skip_tags or ()),
        forced=parse_forced(args.force_preflight),
        endpoints=parse_endpoints(args.endpoint or []),
    )


def upgrade(args: argparse.Namespace) -> Report | Finished | ExitCode:
    if args.finalize:
        from greenzone.commands.finalize import finalize

        return finalize(args)
    if args.bundle is None:
        raise InputError("which bundle?", hint="greenzone upgrade --bundle NEW_BUNDLE_DIR (--check to see the plan)")
    work = UpgradeSession(StateDir.locate(args.state_dir), _options(args))
    if _interactive(args):
        from greenzone.tui.upgrade import run_upgrade_wizard

        return run_upgrade_wizard(work)
    seen = assess(work)
    if seen.verdict == "unchanged":
        return Report("upgrade", seen.checks, seen.data, title="Nothing to upgrade: this bundle is the installed one")
    if args.check or seen.verdict == "refused":
        data = {**seen.data, "verdict": "planned" if seen.verdict == "ready" else "refused"}
        title = (
            "Upgrade refused: nothing was changed"
            if seen.verdict == "refused"
            else "Upgrade plan (check: nothing changed)"
        )
        return Report("upgrade", seen.checks, data, title=title, grouped=True)
    _confirm(args, seen.plan)
    run = run_upgrade(work, seen.plan, list(seen.checks), seen.data, _progress_printer(args))
    code = ExitCode.INTERRUPTED if run.outcome == "canceled" else run.report.exit_code
    return Finished(run.report, code, run.notes)


def _interactive(args: argparse.Namespace) -> bool:
    """On a console, without --yes, --check, --json or --no-tui: the upgrade's screens."""
    if args.yes or args.check or args.json or args.no_tui:
        return False
    return sys.stdin.isatty() and sys.stdout.isatty()


def _confirm(args: argparse.Namespace, plan: UpgradePlan) -> None:
    if not args.yes:
        confirm(
            f"Upgrade {plan.old_product} → {plan.new_product} now?", what="an upgrade changes the running appliance and"
        )


def _progress_printer(args: argparse.Namespace) -> Callable[[Any, PhaseProgress, str | None], None] | None:
    """One line per phase as it ends (stderr under --json, so stdout stays one JSON document)."""
    stream = sys.stderr if args.json else sys.stdout

    def listener(tracker: Any, progress: PhaseProgress, line: str | None) -> None:
        if progress.outcome != "running":
            print(f"{progress.phase}: {progress.summary()}", file=stream, flush=True)

    return listener

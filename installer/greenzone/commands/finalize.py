"""`greenzone upgrade --finalize`: the front of `upgrade/cleanup.py`, which asks before it deletes."""

from __future__ import annotations

import argparse

from greenzone.commands.confirm import confirm
from greenzone.results import Finished, Report
from greenzone.statedir import StateDir
from greenzone.upgrade.cleanup import finalize_waiting
from greenzone.upgrade.history import UpgradeRecord


def _confirm(record: UpgradeRecord) -> None:
    confirm(
        f"Delete what {record.from_product} left? `greenzone rollback` is no longer possible",
        what="--finalize deletes the previous version for good and",
        unchanged="nothing was deleted",
    )


def finalize(args: argparse.Namespace) -> Report | Finished:
    return finalize_waiting(
        StateDir.locate(args.state_dir),
        args.endpoint or [],
        check=args.check,
        confirm=None if args.yes else _confirm,
    )

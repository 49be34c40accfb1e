"""`greenzone preflight`: gather facts (NVML, host), judge them against the answers and the bundle."""

from __future__ import annotations

import argparse
from pathlib import Path

from greenzone.answers.files import load_valid_answers
from greenzone.answers.model import Answers
from greenzone.bundle.manifest import Manifest, ManifestError, read_manifest
from greenzone.errors import InputError
from greenzone.preflight.facts_model import Facts
from greenzone.preflight.gather import gather_facts
from greenzone.preflight.rules import preflight_checks
from greenzone.results import Report
from greenzone.statedir import StateDir


def _answers(path: Path | None, bundle: Path | None) -> Answers | None:
    return None if path is None else load_valid_answers(path, bundle)


def _manifest(bundle: Path | None, answers: Answers | None) -> Manifest | None:
    if bundle is not None:
        try:
            return read_manifest(bundle)
        except ManifestError as error:
            raise InputError(str(error), hint="point --bundle at the directory holding bundle.yaml") from None
    if answers is not None:
        try:
            return read_manifest(answers.bundle.path)
        except ManifestError:
            return None  # the bundle may not be mounted yet; model checks are skipped and say so
    return None


def gather(args: argparse.Namespace) -> tuple[Facts, Answers | None, Manifest | None]:
    answers = _answers(args.answers, args.bundle)
    manifest = _manifest(args.bundle, answers)
    return gather_facts(answers, StateDir.locate(args.state_dir)), answers, manifest


def preflight(args: argparse.Namespace) -> Report:
    facts, answers, manifest = gather(args)
    checks = preflight_checks(facts, answers, manifest)
    return Report(
        command="preflight",
        checks=checks,
        data={"facts": facts.to_dict(), "answers": str(args.answers) if args.answers else None},
        title="Preflight",
    )

"""`greenzone preflight`: gather facts (NVML, host), judge them against the answers and the bundle."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from greenzone import logs
from greenzone.answers.files import load_valid_answers
from greenzone.answers.model import Answers
from greenzone.bundle.manifest import Manifest, ManifestError, read_manifest
from greenzone.errors import InputError
from greenzone.preflight.facts_model import Facts
from greenzone.preflight.gpu import read_nvml
from greenzone.preflight.host import read_host
from greenzone.preflight.rules import preflight_checks, required_ports
from greenzone.results import Report


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
    started = time.monotonic()
    host = read_host(required_ports(answers), logs.state_dir(args.state_dir))
    nvml = read_nvml()
    facts = Facts(host, nvml, {"seconds": round(time.monotonic() - started, 3)})
    return facts, answers, manifest


def preflight(args: argparse.Namespace) -> Report:
    facts, answers, manifest = gather(args)
    checks = preflight_checks(facts, answers, manifest)
    return Report(
        command="preflight",
        checks=checks,
        data={"facts": facts.to_dict(), "answers": str(args.answers) if args.answers else None},
        title="Preflight",
    )

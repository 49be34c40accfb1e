"""`greenzone values`: the Helm values every release of an appliance gets, from its answer file."""

from __future__ import annotations

import argparse
from pathlib import Path

from greenzone.answers.files import load_valid_answers
from greenzone.answers.model import Answers
from greenzone.atomic import make_directory, write_text_if_changed
from greenzone.errors import InputError
from greenzone.results import Check, Report, Status
from greenzone.values.releases import ALL_RELEASE_NAMES, Release, appliance_releases, values_yaml


def selected(answers: Answers, names: list[str] | None) -> list[Release]:
    releases = appliance_releases(answers)
    if not names:
        return releases
    unknown = sorted(set(names) - set(ALL_RELEASE_NAMES))
    if unknown:
        raise InputError(
            f"no release called {', '.join(unknown)}",
            hint=f"choose from: {', '.join(ALL_RELEASE_NAMES)}",
        )
    chosen = [release for release in releases if release.name in names]
    if not chosen:
        raise InputError(
            f"{', '.join(names)} is not installed with this answer file",
            hint="monitoring is only installed with `monitoring.enabled: true`",
        )
    return chosen


def values(args: argparse.Namespace) -> Report | str:
    answers = load_valid_answers(args.answers)
    source = args.answers.as_posix()
    releases = selected(answers, args.release)
    if args.out is None:
        return "---\n".join(values_yaml(release, source) for release in releases)
    out: Path = args.out
    make_directory(out)
    checks: list[Check] = []
    for release in releases:
        target = out / f"{release.name}.yaml"
        unchanged = not write_text_if_changed(target, values_yaml(release, source))
        checks.append(
            Check(
                release.name,
                Status.PASS,
                f"{target} {'unchanged' if unchanged else 'written'}",
                group="values",
                location=str(target),
            )
        )
    return Report(command="values", checks=tuple(checks), title=f"Values from {source}")

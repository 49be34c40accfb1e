"""`greenzone answers validate|schema|example`."""

from __future__ import annotations

import argparse
import json

from greenzone.answers.files import load_answers
from greenzone.answers.rules import Context
from greenzone.results import Check, Report, Status


def validate(args: argparse.Namespace) -> Report:
    checks: list[Check] = []
    context = Context(gpus_present=args.gpus)
    for path in args.files:
        validation = load_answers(path, context=context, bundle_dir=args.bundle, here=args.here)
        checks.extend(problem.to_check() for problem in validation.problems)
        if validation.ok and validation.answers is not None:
            answers = validation.answers
            checks.append(
                Check(
                    name=str(path),
                    status=Status.PASS,
                    detail=(
                        f"valid: appliance {answers.appliance.name}, {len(answers.nodes)} node(s), "
                        f"{answers.inference.engine} serving {', '.join(answers.inference.models)}, "
                        f"{len(answers.departments)} department(s)"
                    ),
                    group="answers",
                    location=str(path),
                )
            )
    return Report(command="answers validate", checks=tuple(checks))


def schema(_: argparse.Namespace) -> str:
    from greenzone.answers.schema import answers_json_schema

    return json.dumps(answers_json_schema(), indent=2) + "\n"


def example(_: argparse.Namespace) -> str:
    from greenzone.answers.example import example_yaml

    return example_yaml()

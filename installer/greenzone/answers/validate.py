"""From text to a validated `Answers`, collecting every problem with its line on the way.

Pure: the caller reads the file and gathers outside facts (`Context`); this never touches the disk,
so the TUI can run it on every keystroke and hypothesis can feed it anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pydantic import ValidationError

from greenzone.answers.model import Answers
from greenzone.answers.problems import Problem
from greenzone.answers.rules import Context, check_rules
from greenzone.answers.schema_errors import problems_from_validation_error
from greenzone.redact import is_secret_key
from greenzone.yamlpos import KeyPath, Position, Positions, iter_keys, load


@dataclass
class Validation:
    file: str
    answers: Answers | None
    problems: list[Problem] = field(default_factory=list)
    positions: Positions = field(default_factory=Positions)

    @property
    def errors(self) -> list[Problem]:
        return [problem for problem in self.problems if problem.severity == "error"]

    @property
    def ok(self) -> bool:
        return self.answers is not None and not self.errors


def _known_path(path: KeyPath) -> bool:
    """Keys whose names look secret but are declared fields (`admin_password_file`) are fine."""
    return not is_secret_key(str(path[-1]))


def _inline_secrets(data: object) -> list[tuple[KeyPath, str]]:
    found = []
    for path, _value in iter_keys(data):
        if path and isinstance(path[-1], str) and not _known_path(path):
            found.append((path, str(path[-1])))
    return found


def locate(problem: Problem, positions: Positions, file: str) -> Problem:
    position = problem.position or positions.of_key(problem.path) or Position(1, 1)
    return replace(problem, file=file, position=position)


def validate_text(text: str, file: str, context: Context | None = None) -> Validation:
    context = context or Context()
    loaded = load(text)
    problems = [
        Problem("error", issue.path, issue.message, issue.hint, file, issue.position or Position(1, 1))
        for issue in loaded.issues
    ]
    data = loaded.data
    if data is None and not problems:
        problems.append(
            Problem(
                "error",
                (),
                "the file is empty",
                "start from `greenzone answers example > site.yaml` and edit it",
                file,
                Position(1, 1),
            )
        )
    if problems and data is None:
        return Validation(file, None, problems, loaded.positions)
    if not isinstance(data, dict):
        kind = type(data).__name__.replace("str", "text").replace("list", "a list")
        problems.append(
            Problem(
                "error",
                (),
                f"the file holds {kind}, but an answer file is a mapping of sections",
                "start with top-level keys such as `appliance:` and `network:` (see `greenzone answers example`)",
                file,
                Position(1, 1),
            )
        )
        return Validation(file, None, problems, loaded.positions)

    secret_paths = set()
    for path, key in _inline_secrets(data):
        secret_paths.add(path)
        problems.append(
            locate(
                Problem(
                    "error",
                    path,
                    f"`{key}` holds a secret inline; secrets are never written in an answer file",
                    "put the secret in a file readable only by root (chmod 600) and set "
                    "`registry.admin_password_file`, or name an environment variable in "
                    "`registry.admin_password_env`",
                ),
                loaded.positions,
                file,
            )
        )

    answers: Answers | None = None
    try:
        answers = Answers.model_validate(data)
    except ValidationError as exc:
        problems.extend(
            problem
            for problem in problems_from_validation_error(exc, Answers, data, loaded.positions, file)
            if problem.path not in secret_paths
        )
    if answers is not None:
        problems.extend(locate(problem, loaded.positions, file) for problem in check_rules(answers, context))
    problems.sort(key=lambda p: (p.position.line if p.position else 0, p.position.column if p.position else 0))
    return Validation(file, answers, problems, loaded.positions)

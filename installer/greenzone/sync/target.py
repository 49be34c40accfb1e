"""Reading a cloud target: its own YAML file (the keys of an answer file's `cloud:` section), or an
answer file whose `cloud:` section it is, plus the values overlay it names.

Validated like the answers: every problem at once, each with file, line, key and fix, and nothing
is pushed or installed until the whole target is sound.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from greenzone.answers.files import load_answers, read_text, resolve_paths
from greenzone.answers.model import Cloud
from greenzone.answers.problems import Problem, did_you_mean
from greenzone.answers.rules import cloud_problems
from greenzone.answers.schema_errors import problems_from_validation_error
from greenzone.answers.validate import locate
from greenzone.errors import AnswersInvalid
from greenzone.sync.mirror import CloudRegistry
from greenzone.values.releases import ALL_RELEASE_NAMES
from greenzone.yamlpos import Loaded, Position, load

_CREATE = "the `cloud:` section of `greenzone answers example` (uncommented) as its own file"


@dataclass(frozen=True)
class Target:
    cloud: Cloud
    source: Path
    overlay: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    """Values per release merged over the on-prem values; parity discounts exactly these keys."""
    answers_file: Path | None = None
    """The answer file, when the target is its `cloud:` section."""

    @property
    def registry(self) -> CloudRegistry:
        return CloudRegistry.parse(self.cloud.registry)


def _fail(source: Path, problems: list[Problem]) -> AnswersInvalid:
    return AnswersInvalid(
        f"{source} is not a valid cloud target",
        hint="fix each line named above; `greenzone answers schema` documents every key of the cloud section",
        details=[problem.one_line() for problem in problems],
    )


def _present(cloud: Cloud, prefix: tuple[str, ...]) -> list[Problem]:
    """Files the target names must be here: sync runs where they are."""
    problems = []
    for key in ("credentials_file", "ca_file", "values_overlay"):
        path = getattr(cloud, key)
        if path is not None and not path.is_file():
            problems.append(
                Problem(
                    "error",
                    (*prefix, key),
                    f"{path} does not exist",
                    "fix the path (relative paths are read from the target file's directory)",
                )
            )
    return problems


def _mapping(path: Path, loaded: Loaded, message: str, hint: str, *, empty_ok: bool) -> dict[Any, Any]:
    """The YAML document as a mapping, or the located syntax problems (or `message`) raised."""
    file = str(path)
    problems = [
        Problem("error", issue.path, issue.message, issue.hint, file, issue.position or Position(1, 1))
        for issue in loaded.issues
    ]
    data = {} if loaded.data is None and empty_ok else loaded.data
    if not problems and not isinstance(data, dict):
        problems.append(Problem("error", (), message, hint, file, Position(1, 1)))
    if problems:
        raise _fail(path, problems)
    assert isinstance(data, dict)
    return data


def read_overlay(path: Path) -> dict[str, dict[str, Any]]:
    """`<release>: {values}`; every problem located in the overlay file."""
    text, problem = read_text(path, "a values overlay", "a YAML mapping of release names to values")
    if problem is not None or text is None:
        raise _fail(path, [problem] if problem else [])
    loaded = load(text)
    file = str(path)
    data = _mapping(
        path,
        loaded,
        "the overlay must be a mapping of release names to values",
        f"start with a release name, e.g. `greenzone-inference:`; releases: {', '.join(ALL_RELEASE_NAMES)}",
        empty_ok=True,
    )
    problems: list[Problem] = []
    for release, values in data.items():
        if release not in ALL_RELEASE_NAMES:
            guess = did_you_mean(str(release), list(ALL_RELEASE_NAMES))
            problems.append(
                Problem(
                    "error",
                    (release,),
                    f"`{release}` is not a release of the appliance",
                    (f"did you mean `{guess}`? " if guess else "") + f"releases: {', '.join(ALL_RELEASE_NAMES)}",
                )
            )
        elif values is not None and not isinstance(values, dict):
            problems.append(
                Problem(
                    "error",
                    (release,),
                    f"the values of `{release}` must be a mapping, not {type(values).__name__}",
                    "indent the chart's values under the release name (`key: value` lines)",
                )
            )
    if problems:
        raise _fail(path, [locate(problem, loaded.positions, file) for problem in problems])
    return {str(release): dict(values or {}) for release, values in data.items()}


def load_target(path: Path) -> Target:
    text, problem = read_text(path, "a cloud target", _CREATE)
    if problem is not None or text is None:
        raise _fail(path, [problem] if problem else [])
    loaded = load(text)
    if isinstance(loaded.data, dict) and "appliance" in loaded.data:
        return _from_answers(path)
    file = str(path)
    data = _mapping(
        path,
        loaded,
        "a cloud target is a mapping with registry, kubeconfig and context",
        f"start from {_CREATE}",
        empty_ok=False,
    )
    try:
        cloud = Cloud.model_validate(data)
    except ValidationError as error:
        raise _fail(path, list(problems_from_validation_error(error, Cloud, data, loaded.positions, file))) from None
    cloud = resolve_paths(cloud, path.parent.resolve())
    problems = [locate(p, loaded.positions, file) for p in [*cloud_problems(cloud), *_present(cloud, ())]]
    if problems:
        raise _fail(path, problems)
    overlay = read_overlay(cloud.values_overlay) if cloud.values_overlay else {}
    return Target(cloud, path, overlay)


def _from_answers(path: Path) -> Target:
    validation = load_answers(path)
    if validation.answers is None or validation.errors:
        raise _fail(path, validation.errors)
    cloud = validation.answers.cloud
    if cloud is None:
        raise _fail(
            path,
            [
                Problem(
                    "error",
                    ("cloud",),
                    "this answer file has no `cloud:` section",
                    "add one (see `greenzone answers example`), or pass a target file",
                    str(path),
                    Position(1, 1),
                )
            ],
        )
    problems = [locate(p, validation.positions, str(path)) for p in _present(cloud, ("cloud",))]
    if problems:
        raise _fail(path, problems)
    overlay = read_overlay(cloud.values_overlay) if cloud.values_overlay else {}
    return Target(cloud, path, overlay, answers_file=path)

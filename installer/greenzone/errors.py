"""The one error family: every user-facing failure carries a title, a hint and an exit code.

`cli.main` catches `GreenzoneError` once and prints it without a traceback; anything else is a bug,
logged with its traceback and reported as exit code 70.
"""

from __future__ import annotations

from collections.abc import Sequence

from greenzone.results import ExitCode


class GreenzoneError(Exception):
    exit_code: ExitCode = ExitCode.INPUT

    def __init__(self, title: str, *, hint: str = "", details: Sequence[str] = ()) -> None:
        super().__init__(title)
        self.title = title
        self.hint = hint
        self.details = tuple(details)


class InputError(GreenzoneError):
    """A file or option the user gave is wrong or missing."""


class AnswersInvalid(InputError):
    """The answer file has errors; `details` holds one located line per problem."""


class EnvironmentProblem(GreenzoneError):
    """This machine lacks something the command needs (a permission, a tool, a device)."""

    exit_code = ExitCode.ENVIRONMENT

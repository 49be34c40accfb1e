"""The one error family: every user-facing failure carries a title, a hint and an exit code.

`cli.main` catches `GreenzoneError` once and prints it without a traceback; anything else is a bug,
logged with its traceback and reported as exit code 70.
"""

from __future__ import annotations

import errno
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


_OS_ERRORS: dict[int, tuple[type[GreenzoneError], str, str]] = {
    errno.EACCES: (
        EnvironmentProblem,
        "permission denied",
        "run as a user who may use it (root), or choose another path",
    ),
    errno.EPERM: (EnvironmentProblem, "operation not permitted", "run as root, or choose another path"),
    errno.EROFS: (
        EnvironmentProblem,
        "the filesystem is read-only",
        "the medium is read-only (a write-protected USB stick or DVD?); choose a path on a writable disk",
    ),
    errno.ENOSPC: (EnvironmentProblem, "no space left on the device", "free space there, or choose another disk"),
    errno.EDQUOT: (EnvironmentProblem, "disk quota exceeded", "free space there, or choose another disk"),
    errno.EIO: (
        EnvironmentProblem,
        "the device reported an input/output error",
        "the medium may be damaged: copy the file again from a good copy, or use another drive",
    ),
    errno.EISDIR: (InputError, "is a directory where a file is needed", "give the path of a file"),
    errno.ENOTDIR: (
        InputError,
        "a part of the path is a file where a directory is needed",
        "check each directory in the path",
    ),
    errno.EEXIST: (InputError, "already exists", "remove it, or choose another path"),
    errno.ENOTEMPTY: (InputError, "is a directory that is not empty", "empty or remove it, or choose another path"),
    errno.ENOENT: (InputError, "does not exist", "check the path"),
    errno.ENAMETOOLONG: (InputError, "the name is too long", "choose a shorter path"),
    errno.ELOOP: (InputError, "has too many levels of symbolic links", "check the symbolic links in the path"),
    errno.EXDEV: (InputError, "cannot be moved across filesystems", "choose a path on the same disk"),
}


def from_os_error(error: OSError, doing: str = "") -> GreenzoneError:
    """An OS refusal as the user's problem it is: the path, the reason, a fix, and exit 3 for a wrong
    path or 4 for a missing permission, a full or read-only disk. Callers that know more say more;
    this is the floor, so that no user mistake reaches the user as "internal error"."""
    kind, reason, hint = _OS_ERRORS.get(
        error.errno or 0, (EnvironmentProblem, error.strerror or str(error), "check the path and the disk")
    )
    paths = [str(name) for name in (error.filename, error.filename2) if name is not None]
    where = " -> ".join(paths)
    title = f"{where}: {reason}" if where else reason
    return kind(f"{doing}: {title}" if doing else title, hint=hint)

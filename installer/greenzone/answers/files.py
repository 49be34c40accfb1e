"""Reading answer files from disk and checking the files and variables they point at.

Kept apart from `validate.py` because this is the part that touches the machine: the same answer
file is valid on the vendor's laptop and yet not installable on a box where the key file is missing.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel

from greenzone.answers.model import Answers
from greenzone.answers.problems import Problem
from greenzone.answers.rules import Context, bundle_models_rule
from greenzone.answers.validate import Validation, locate, validate_text
from greenzone.errors import AnswersInvalid
from greenzone.redact import may_hold_secret, shown_reference
from greenzone.textfiles import bad_byte, utf8_error_position
from greenzone.yamlpos import KeyPath, Position

MAX_ANSWERS_BYTES = 1024 * 1024


def read_text(
    path: Path, what: str = "an answer file", create: str = "`greenzone answers example`"
) -> tuple[str | None, Problem | None]:
    """The file's text, or a problem naming why it cannot be read (never raises for user mistakes)."""
    file = str(path)

    def problem(message: str, hint: str) -> tuple[None, Problem]:
        return None, Problem("error", (), message, hint, file, None)

    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            return problem(f"is a directory, not {what}", "name the YAML file inside it")
        if info.st_size > MAX_ANSWERS_BYTES:
            return problem(
                f"is {info.st_size} bytes; {what} is a few kilobytes",
                "check that this is the right file",
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        return problem("does not exist", f"check the path, or create one with {create}")
    except PermissionError:
        return problem("cannot be read: permission denied", f"run as root or `chmod o+r {file}`")
    except OSError as exc:
        return problem(f"cannot be read: {exc.strerror}", "check the file and the medium it is on")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line, column = utf8_error_position(raw, exc.start)
        return None, Problem(
            "error",
            (),
            f"is not UTF-8 text: byte 0x{bad_byte(raw, exc.start):02x} at line {line}, column {column}",
            "save the file as UTF-8 (an editor's 'Save as' offers the encoding)",
            file,
            Position(line, column),
        )


def _resolve(value: Any, base: Path) -> Any:
    if isinstance(value, Path):
        expanded = value.expanduser()
        return expanded if expanded.is_absolute() else base / expanded
    if isinstance(value, BaseModel):
        updates = {name: _resolve(getattr(value, name), base) for name in type(value).model_fields}
        return value.model_copy(update=updates)
    if isinstance(value, list):
        return [_resolve(item, base) for item in value]
    return value


Model = TypeVar("Model", bound=BaseModel)


def resolve_paths(answers: Model, base: Path) -> Model:
    """Relative paths in an answer file mean "next to the answer file", as an editor user expects."""
    resolved: Model = _resolve(answers, base)
    return resolved


def _path_fields(value: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Path]]:
    if isinstance(value, Path):
        yield path, value
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            yield from _path_fields(getattr(value, name), (*path, name))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _path_fields(item, (*path, index))


_SECRET_FILES = {
    ("registry", "admin_password_file"),
    ("registry", "tls", "key_file"),
    ("cloud", "credentials_file"),
}


def check_references(answers: Answers, environ: Mapping[str, str], *, here: bool) -> list[Problem]:
    """Files named by the answers exist and secret files are private; named env vars are set.

    An answer file is often written on one machine and used on another (the vendor's laptop, then
    the appliance). Unless `here` says this is the machine it is for, an absent file is only noted
    as not checked; present files are always checked.
    """
    problems: list[Problem] = []
    for path, target in _path_fields(answers):
        generic = tuple(item for item in path if isinstance(item, str))
        if not target.exists():
            leaf = str(path[-1])
            if may_hold_secret(leaf):
                target = Path(shown_reference(str(target), leaf))
            if here:
                problems.append(
                    Problem(
                        "error",
                        path,
                        f"{target} does not exist",
                        "fix the path (relative paths are read from the answer file's directory)",
                    )
                )
            else:
                problems.append(
                    Problem(
                        "note",
                        path,
                        f"not checked: {target} is not on this machine",
                        "it must exist where the install runs; validate there with --here",
                    )
                )
            continue
        if generic in _SECRET_FILES or generic[-1:] == ("key_file",):
            mode = stat.S_IMODE(target.stat().st_mode)
            if mode & 0o077:
                problems.append(
                    Problem(
                        "warning",
                        path,
                        f"{target} holds a secret but is readable by others (mode {mode:04o})",
                        f"chmod 600 {target}",
                    )
                )
            if generic == ("registry", "admin_password_file") and target.is_file():
                try:
                    content = target.read_text().strip()
                except (OSError, UnicodeDecodeError):
                    content = None
                if content is None:
                    problems.append(Problem("error", path, f"{target} cannot be read", "check its owner and mode"))
                elif len(content) < 8:
                    problems.append(
                        Problem(
                            "error",
                            path,
                            f"the password in {target} is shorter than 8 characters; Harbor refuses it",
                            "write a password of 8+ characters with upper and lower case letters and a digit",
                        )
                    )
    env_name = answers.registry.admin_password_env
    if env_name and not environ.get(env_name):
        shown = shown_reference(env_name, "admin_password_env")
        problems.append(
            Problem(
                "error" if here else "note",
                ("registry", "admin_password_env"),
                f"environment variable {shown} is not set here",
                f"export {shown} before `greenzone install`" if shown == env_name else "export it before the install",
            )
        )
    return problems


def bundle_context(bundle_dir: Path) -> Context | None:
    """Models listed in a bundle's manifest, if the bundle is there to read."""
    from greenzone.bundle.manifest import ManifestError, read_manifest

    try:
        manifest = read_manifest(bundle_dir)
    except ManifestError:
        return None
    return Context(
        bundle_models=frozenset(model.name for model in manifest.models),
        bundle_source=str(bundle_dir),
        bundle_images=frozenset(image.ref for image in manifest.images),
        model_engines={model.name: model.engine for model in manifest.models},
    )


def load_answers(
    path: Path,
    *,
    context: Context | None = None,
    bundle_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    here: bool = False,
) -> Validation:
    """Read, validate, resolve relative paths and check references; every problem is located."""
    text, problem = read_text(path)
    if problem is not None or text is None:
        return Validation(str(path), None, [problem] if problem else [])
    context = context or Context()
    if bundle_dir is not None:
        found = bundle_context(bundle_dir)
        if found is None:
            return Validation(
                str(path),
                None,
                [
                    Problem(
                        "error",
                        (),
                        f"no readable bundle.yaml in {bundle_dir}",
                        "point --bundle at the bundle directory (the one holding bundle.yaml)",
                        str(bundle_dir),
                    )
                ],
            )
        context = dataclasses.replace(found, gpus_present=context.gpus_present)
    validation = validate_text(text, str(path), context)
    if validation.answers is None or validation.errors:
        return validation
    answers = resolve_paths(validation.answers, path.parent.resolve())
    extra = check_references(answers, os.environ if environ is None else environ, here=here)
    if context.bundle_models is None:
        # No --bundle: the answers' own bundle path, when it is readable here, names the models.
        found = bundle_context(answers.bundle.path)
        if found is not None:
            extra.extend(bundle_models_rule(answers, found))
    problems = sorted(
        [*validation.problems, *(locate(problem, validation.positions, str(path)) for problem in extra)],
        key=lambda p: (p.position.line, p.position.column) if p.position else (0, 0),
    )
    return Validation(str(path), answers, problems, validation.positions)


def load_valid_answers(path: Path, bundle: Path | None = None) -> Answers:
    """The answers, or an AnswersInvalid error listing every located problem."""
    validation = load_answers(path, bundle_dir=bundle)
    if validation.errors or validation.answers is None:
        raise AnswersInvalid(
            f"{path} is not a valid answer file",
            hint=f"`greenzone answers validate {path}` explains each problem",
            details=[problem.one_line() for problem in validation.errors],
        )
    return validation.answers

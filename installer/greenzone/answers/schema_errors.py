"""Turns pydantic's validation errors into located problems a site administrator can act on."""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import ErrorDetails, PydanticUndefined

from greenzone.answers.problems import Problem, did_you_mean
from greenzone.redact import may_hold_secret
from greenzone.yamlpos import KeyPath, Positions, format_path

_TYPE_WORDS = {
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "text",
    "list_type": "a list (lines starting with `- `)",
    "model_type": "a mapping (indented `key: value` lines)",
    "model_attributes_type": "a mapping (indented `key: value` lines)",
    "dict_type": "a mapping (indented `key: value` lines)",
    "path_type": "a file path",
}


_NUMBER = re.compile(r"^[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?$")
_NUMBER_BOUNDS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal", "multiple_of"}


_BOUND_WORDS = {
    "greater_than": "must be more than",
    "greater_than_equal": "must be at least",
    "less_than": "must be less than",
    "less_than_equal": "must be at most",
    "multiple_of": "must be a multiple of",
}
"""pydantic's "Input should be less than or equal to 16" in the words the rest of the errors use."""


def _range(info: FieldInfo | None) -> tuple[Any, Any]:
    """The lowest and highest value a numeric field accepts, from its `Field(ge=..., le=...)`."""
    low = high = None
    for item in info.metadata if info is not None else ():
        low = getattr(item, "ge", None) if getattr(item, "ge", None) is not None else low
        high = getattr(item, "le", None) if getattr(item, "le", None) is not None else high
    return low, high


def _type_hint(kind: str, wanted: str, value: Any, *, secret: bool = False) -> str:
    """The fix for a value of the wrong type, naming YAML's own surprises: `no`, `off`, `on` and
    `yes` are booleans in YAML 1.1 (PyYAML's dialect), `1.10` is the number 1.1, `"443"` is text.
    For a key that may hold a secret, the value itself is never repeated."""
    if secret and kind == "string_type" and isinstance(value, bool | int | float):
        return "YAML read this as a number or true/false; put the value in quotes to keep it text"
    if kind == "string_type" and isinstance(value, bool):
        return (
            'YAML reads yes, no, on, off, true and false as true/false; to mean the word, put it in quotes (e.g. "no")'
        )
    if kind == "string_type" and isinstance(value, int | float):
        return f"YAML read this as the number {value!r}; to keep it as text, put it in quotes exactly as written"

    if kind in ("int_type", "float_type") and isinstance(value, bool):
        return "YAML reads yes, no, on, off, true and false as true/false, not as numbers; write the number"
    if kind in ("int_parsing", "float_parsing", "int_type", "float_type") and isinstance(value, str):
        if _NUMBER.match(value.strip()):
            return f"write the number without quotes: {value.strip()}"
        return f"write {wanted} without quotes"
    if kind in ("bool_parsing", "bool_type") and isinstance(value, str):
        return "write true or false without quotes"
    return f"write {wanted}"


def _unwrap(annotation: Any) -> Any:
    """The model or list element behind `X | None`, `list[X]`, `Annotated[X, ...]`."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        options = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        return _unwrap(options[0]) if len(options) == 1 else annotation
    return annotation


def _walk_model(root: type[BaseModel], path: KeyPath) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model that owns the last element of `path`, and that element's field (if it is one)."""
    model: type[BaseModel] | None = root
    info: FieldInfo | None = None
    for item in path:
        if isinstance(item, int):
            continue  # list index: the element type was already selected below
        if model is None or item not in model.model_fields:
            return model, None
        info = model.model_fields[item]
        inner = _unwrap(info.annotation)
        if typing.get_origin(inner) is list:
            inner = _unwrap(typing.get_args(inner)[0])
        model = inner if isinstance(inner, type) and issubclass(inner, BaseModel) else None
    return model, info


def _owner(root: type[BaseModel], path: KeyPath) -> type[BaseModel] | None:
    model, _ = _walk_model(root, path)
    return model


def field_description(root: type[BaseModel], path: KeyPath) -> str:
    parent = _owner(root, path[:-1])
    if parent is None or not path or not isinstance(path[-1], str):
        return ""
    info = parent.model_fields.get(path[-1])
    return " ".join((info.description or "").split()) if info else ""


def _example(info: FieldInfo | None) -> str:
    if info is None:
        return "<value>"
    if info.examples:
        return str(info.examples[0])
    if info.default not in (None, PydanticUndefined) and not isinstance(info.default, bool):
        return str(info.default)
    return "<value>"


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _clean_loc(loc: tuple[int | str, ...], data: Any) -> KeyPath:
    """Pydantic adds validator names to locations (e.g. `function-after[...]`); keep only real keys."""
    path: list[int | str] = []
    node = data
    for item in loc:
        in_dict = isinstance(node, dict) and item in node
        in_list = isinstance(node, list) and isinstance(item, int) and 0 <= item < len(node)
        if in_dict or in_list:
            path.append(item)
            node = node[item]
        elif isinstance(item, str) and ("[" in item or item.startswith("function-")):
            continue
        else:
            path.append(item)
            node = None
    return tuple(path)


def problems_from_validation_error(
    exc: ValidationError, root: type[BaseModel], data: Any, positions: Positions, file: str
) -> Iterator[Problem]:
    for error in exc.errors(include_url=False):
        yield _problem(error, root, data, positions, file)


def _problem(error: ErrorDetails, root: type[BaseModel], data: Any, positions: Positions, file: str) -> Problem:
    path = _clean_loc(tuple(error["loc"]), data)
    kind = error["type"]
    value = error.get("input")
    description = field_description(root, path)
    leaf = path[-1] if path else ""

    if kind == "extra_forbidden":
        parent = _owner(root, path[:-1])
        known = sorted(parent.model_fields) if parent else []
        guess = did_you_mean(str(leaf), known)
        hint = f"did you mean `{guess}`? " if guess else ""
        hint += f"Keys allowed under {format_path(path[:-1])}: {', '.join(known)}"
        return Problem("error", path, f"unknown key `{leaf}`", hint, file, positions.of_key(path))

    if kind == "missing":
        section, info = _walk_model(root, path)
        if section is not None:
            return Problem(
                "error",
                path,
                f"required section `{leaf}` is missing",
                f"add a `{leaf}:` section; `greenzone answers example` shows one",
                file,
                positions.of_key(path),
                description,
            )
        return Problem(
            "error",
            path,
            f"required key `{leaf}` is missing",
            f"add `{leaf}: {_example(info)}` under {format_path(path[:-1])}",
            file,
            positions.of_key(path),
            description,
        )

    secret = isinstance(leaf, str) and may_hold_secret(leaf)
    got = "" if secret else f", got {_shown(value)}"
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        options = [part.strip(" '") for part in expected.replace(" or ", ",").split(",") if part.strip(" '")]
        guess = did_you_mean(str(value), options) if isinstance(value, str) else None
        hint = f"did you mean `{guess}`?" if guess else f"use one of: {', '.join(options)}"
        return Problem(
            "error",
            path,
            f"expected one of {', '.join(options)}{got}",
            hint,
            file,
            positions.of_value(path),
            description,
        )
    if kind == "value_error":
        # A validator may carry its own fix after "\nhint: ": it knows better than the schema's example.
        message, _, own_hint = str(error["msg"]).removeprefix("Value error, ").partition("\nhint: ")
        if secret and isinstance(value, str) and value:
            message = message.replace(repr(value), "the value").replace(value, "…")
        _, info = _walk_model(root, path)
        example = _example(info)
        hint = own_hint or (f"for example `{leaf}: {example}`" if example != "<value>" else "correct the value")
        return Problem("error", path, message, hint, file, positions.of_value(path), description)
    if kind in _TYPE_WORDS:
        wanted = _TYPE_WORDS[kind]
        hint = _type_hint(kind, wanted, value, secret=secret)
        return Problem("error", path, f"expected {wanted}{got}", hint, file, positions.of_value(path), description)
    if isinstance(value, str) and _NUMBER.match(value.strip()) and kind in _NUMBER_BOUNDS:
        hint = f"write the number without quotes ({value.strip()}) and within the allowed range"
        return Problem("error", path, f"{error['msg']}{got}", hint, file, positions.of_value(path), description)
    if kind in _BOUND_WORDS:
        bound = next(iter(error.get("ctx", {}).values()), "")
        _, info = _walk_model(root, path)
        low, high = _range(info)
        allowed = f"from {low} to {high}" if low is not None and high is not None else "within the allowed range"
        message = f"{_BOUND_WORDS[kind]} {bound}{got}"
        return Problem("error", path, message, f"use a number {allowed}", file, positions.of_value(path), description)
    return Problem(
        "error",
        path,
        f"{error['msg']}{got}",
        "correct the value",
        file,
        positions.of_value(path),
        description,
    )

"""Health's views as JSON and back (pure): what a support bundle records at the site, so that the
vendor's `support-bundle analyze` runs health's own verdicts on exactly what the readers saw.

The views are plain frozen dataclasses; `to_json` flattens them and `views_from_json` rebuilds them
from their type hints, so a field added to a view is recorded and read back without a change here.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from greenzone.health.run import Views

FORMAT = 1


def to_json(value: Any) -> Any:
    """A view (or anything inside one) as JSON-ready data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {item.name: to_json(getattr(value, item.name)) for item in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): to_json(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = [to_json(item) for item in value]
        return sorted(items, key=str) if isinstance(value, (set, frozenset)) else items
    return value


def views_to_json(views: Views) -> dict[str, Any]:
    return {"format": FORMAT, **to_json(views)}


def views_from_json(data: Mapping[str, Any]) -> Views:
    """Raises ValueError when `data` is not a recording this version can read."""
    if data.get("format") != FORMAT:
        raise ValueError(f"health views of format {data.get('format')!r}; this greenzone reads format {FORMAT}")
    built: Views = build(Views, {key: value for key, value in data.items() if key != "format"})
    return built


def build(kind: Any, value: Any) -> Any:
    """`value` (JSON) as an instance of `kind`, a dataclass or a type hint built of them."""
    origin = typing.get_origin(kind)
    if kind is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        options = [option for option in typing.get_args(kind) if option is not type(None)]
        if value is None:
            return None
        return build(options[0], value) if len(options) == 1 else value
    if origin is typing.Literal:
        return value
    if isinstance(kind, type) and dataclasses.is_dataclass(kind):
        if not isinstance(value, Mapping):
            raise ValueError(f"expected an object for {kind.__name__}, got {type(value).__name__}")
        hints = typing.get_type_hints(kind)
        known = {item.name for item in dataclasses.fields(kind) if item.init}
        return kind(**{name: build(hints[name], item) for name, item in value.items() if name in known})
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        return kind(value)
    if kind is datetime.datetime:
        return datetime.datetime.fromisoformat(value) if value is not None else None
    if origin is tuple:
        args = typing.get_args(kind)
        return tuple(build(args[0], item) for item in value or ())
    if origin in (frozenset, set):
        return frozenset(build(typing.get_args(kind)[0], item) for item in value or ())
    if origin in (list, Sequence):
        return [build(typing.get_args(kind)[0], item) for item in value or ()]
    if origin in (dict, Mapping):
        key_type, item_type = typing.get_args(kind)
        return {_key(key_type, key): build(item_type, item) for key, item in (value or {}).items()}
    return value


def _key(kind: Any, key: str) -> Any:
    return int(key) if kind is int else key

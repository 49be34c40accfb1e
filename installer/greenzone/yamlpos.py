"""YAML loading that remembers where every key and value came from.

Error messages must name the line of the offending key, and PyYAML's plain `safe_load` forgets
positions and silently keeps the last of two duplicate keys. This module composes the node graph
once, records a position for every path, reports duplicate keys, and returns plain data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

PathItem = str | int
KeyPath = tuple[PathItem, ...]


def format_path(path: KeyPath) -> str:
    """`('inference', 'models', 1)` -> `inference.models[1]`; the root is `(top level)`."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else str(item)
    return out or "(top level)"


@dataclass(frozen=True)
class Position:
    line: int  # 1-based
    column: int  # 1-based


@dataclass(frozen=True)
class YamlIssue:
    """A problem found while reading the YAML itself, before any schema applies."""

    message: str
    hint: str
    position: Position | None
    path: KeyPath = ()


@dataclass
class Positions:
    """Where each key path appears; looking up a path that is absent falls back to its nearest parent."""

    keys: dict[KeyPath, Position] = field(default_factory=dict)
    values: dict[KeyPath, Position] = field(default_factory=dict)

    def of_key(self, path: KeyPath) -> Position | None:
        for end in range(len(path), -1, -1):
            prefix = path[:end]
            if prefix in self.keys:
                return self.keys[prefix]
            if prefix in self.values:
                return self.values[prefix]
        return None

    def of_value(self, path: KeyPath) -> Position | None:
        return self.values.get(path) or self.of_key(path)


@dataclass
class Loaded:
    data: Any
    positions: Positions
    issues: list[YamlIssue]


def _pos(mark: yaml.Mark | None) -> Position | None:
    if mark is None:
        return None
    return Position(mark.line + 1, mark.column + 1)


def _scalar_key(node: yaml.Node) -> PathItem:
    if isinstance(node, yaml.ScalarNode):
        value = node.value
        return int(value) if node.tag.endswith(":int") and value.lstrip("-").isdigit() else str(value)
    return "<complex key>"


def _walk(node: yaml.Node, path: KeyPath, positions: Positions, issues: list[YamlIssue]) -> None:
    positions.values.setdefault(path, Position(node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, yaml.MappingNode):
        first_seen: dict[PathItem, Position] = {}
        for key_node, value_node in node.value:
            key = _scalar_key(key_node)
            where = Position(key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in first_seen and key != "<<":
                issues.append(
                    YamlIssue(
                        message=f"duplicate key `{key}` (first written on line {first_seen[key].line})",
                        hint="YAML keeps only the last of two equal keys; delete or merge one of them",
                        position=where,
                        path=(*path, key),
                    )
                )
            first_seen.setdefault(key, where)
            positions.keys.setdefault((*path, key), where)
            _walk(value_node, (*path, key), positions, issues)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            positions.keys.setdefault((*path, index), Position(item.start_mark.line + 1, item.start_mark.column + 1))
            _walk(item, (*path, index), positions, issues)


def _reader_issue(exc: yaml.reader.ReaderError, text: str) -> YamlIssue:
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    return YamlIssue(
        message=f"not valid YAML: character {exc.character!r} is not allowed in YAML text",
        hint="remove the control character (often pasted from a terminal or a word processor)",
        position=Position(line, column),
    )


def load(text: str) -> Loaded:
    """Parse one YAML document; syntax errors come back as issues with their line, never raised."""
    positions = Positions()
    issues: list[YamlIssue] = []
    try:
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        return Loaded(None, positions, [_reader_issue(exc, text)])
    try:
        node = loader.get_single_node()
        if node is None:
            return Loaded(None, positions, issues)
        _walk(node, (), positions, issues)
        data = loader.construct_document(node)
    except yaml.MarkedYAMLError as exc:
        problem = exc.problem or str(exc)
        context = f" {exc.context}" if exc.context else ""
        message = f"not valid YAML: {problem}{context}"
        if "expected a single document" in str(exc):
            message = "the file holds several YAML documents (`---`); an answer file is one document"
        return Loaded(
            None,
            positions,
            [
                YamlIssue(
                    message=message,
                    hint="check indentation (spaces, not tabs), colons after keys and matching quotes",
                    position=_pos(exc.problem_mark) or _pos(exc.context_mark),
                )
            ],
        )
    except yaml.reader.ReaderError as exc:
        return Loaded(None, positions, [_reader_issue(exc, text)])
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as exc:
        # Constructor errors without marks (e.g. a timestamp out of range) still get a located message.
        return Loaded(None, positions, [YamlIssue(f"not valid YAML: {exc}", "fix the value", Position(1, 1))])
    finally:
        loader.dispose()
    return Loaded(data, positions, issues)


def iter_keys(data: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any]]:
    """Every (path, value) pair under `data`, depth first, mapping keys and sequence items alike."""
    if isinstance(data, dict):
        for key, value in data.items():
            child = (*path, key if isinstance(key, int | str) else str(key))
            yield child, value
            yield from iter_keys(value, child)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield (*path, index), value
            yield from iter_keys(value, (*path, index))

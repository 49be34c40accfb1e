"""YAML loading that remembers where every key and value came from, within bounds.

Error messages must name the line of the offending key, and PyYAML's plain `safe_load` forgets
positions and silently keeps the last of two duplicate keys. This module composes the node graph
once, records a position for every path, reports duplicate keys, and returns plain data.

It is also the only door for YAML that comes from outside (answers, targets, overlays, the lock,
bundle manifests, rendered GitOps files, the credentials file): a few lines of aliases that refer
to aliases ("billion laughs") expand to more values than memory holds, so every document is
bounded in size, nesting depth and the number of values it expands to, and refused with the
place the bound was crossed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import yaml

PathItem = str | int
KeyPath = tuple[PathItem, ...]

MAX_BYTES = 16 * 2**20
"""Bigger than any answer file, lock or bundle manifest greenzone writes (a manifest of 20,000 files is ~3 MiB)."""
MAX_VALUES = 200_000
"""Values a document may expand to, every alias counted as often as it is used."""
MAX_DEPTH = 64


class _TooBig(Exception):
    def __init__(self, message: str, mark: yaml.Mark | None) -> None:
        super().__init__(message)
        self.message, self.mark = message, mark


@dataclass
class _Budget:
    values: int = 0

    def spend(self, node: yaml.Node, depth: int) -> None:
        self.values += 1
        if self.values > MAX_VALUES:
            raise _TooBig(
                f"the document expands to more than {MAX_VALUES:,} values (YAML aliases `*name` repeat what they name)",
                node.start_mark,
            )
        if depth > MAX_DEPTH:
            raise _TooBig(f"the document nests deeper than {MAX_DEPTH} levels", node.start_mark)


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader, stopped while it composes once a document holds more values than the
    bound (a flat list of millions of items costs minutes and gigabytes before any walk could count
    it); aliases are counted afterwards, by the walk, as often as they are used."""

    composed = 0

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        self.composed += 1
        if self.composed > MAX_VALUES:
            mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
            raise _TooBig(f"the document holds more than {MAX_VALUES:,} values", mark)
        return super().compose_node(parent, index)


# `=` alone is YAML 1.1's "value" tag, which SafeLoader resolves but cannot construct; rendered
# charts carry it (prometheus-operator's CRD enums), so it stays the string it reads as.
_Loader.add_constructor("tag:yaml.org,2002:value", yaml.SafeLoader.construct_yaml_str)  # type: ignore[type-var]


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


def _walk(node: yaml.Node, path: KeyPath, positions: Positions, issues: list[YamlIssue], budget: _Budget) -> None:
    budget.spend(node, len(path))
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
            _walk(value_node, (*path, key), positions, issues, budget)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            positions.keys.setdefault((*path, index), Position(item.start_mark.line + 1, item.start_mark.column + 1))
            _walk(item, (*path, index), positions, issues, budget)


def _reader_issue(exc: yaml.reader.ReaderError, text: str) -> YamlIssue:
    before = text[: exc.position]
    line = before.count("\n") + 1
    column = exc.position - (before.rfind("\n") + 1) + 1
    return YamlIssue(
        message=f"not valid YAML: character {exc.character!r} is not allowed in YAML text",
        hint="remove the control character (often pasted from a terminal or a word processor)",
        position=Position(line, column),
    )


def _too_big(text: str) -> YamlIssue | None:
    if len(text) <= MAX_BYTES:
        return None
    return YamlIssue(
        f"the file holds {len(text) / 2**20:.0f} MiB of text; more than {MAX_BYTES // 2**20} MiB is refused",
        "this is not a file greenzone wrote or expects: check that the right file was given",
        Position(1, 1),
    )


def _bounded_issue(exc: _TooBig) -> YamlIssue:
    return YamlIssue(
        exc.message,
        "write the values out instead of repeating aliases, or check that the right file was given",
        _pos(exc.mark),
    )


def load(text: str) -> Loaded:
    """Parse one YAML document; syntax errors and documents beyond the bounds come back as issues
    with their line, never raised."""
    positions = Positions()
    issues: list[YamlIssue] = []
    oversized = _too_big(text)
    if oversized is not None:
        return Loaded(None, positions, [oversized])
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as exc:
        return Loaded(None, positions, [_reader_issue(exc, text)])
    try:
        node = loader.get_single_node()
        if node is None:
            return Loaded(None, positions, issues)
        _walk(node, (), positions, issues, _Budget())
        data = loader.construct_document(node)
    except _TooBig as exc:
        return Loaded(None, positions, [_bounded_issue(exc)])
    except yaml.MarkedYAMLError as exc:
        return Loaded(None, positions, [syntax_issue(exc)])
    except yaml.reader.ReaderError as exc:
        return Loaded(None, positions, [_reader_issue(exc, text)])
    except (yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError) as exc:
        # Constructor errors without marks (e.g. a timestamp out of range) still get a located message.
        return Loaded(None, positions, [YamlIssue(f"not valid YAML: {exc}", "fix the value", Position(1, 1))])
    finally:
        loader.dispose()
    return Loaded(data, positions, issues)


def syntax_issue(exc: yaml.MarkedYAMLError) -> YamlIssue:
    """A syntax error located where the mistake is, which is not always where the parser gave up:
    an unclosed quote is reported where it opened, not at the end of the file it swallowed."""
    problem = exc.problem or str(exc)
    context = exc.context or ""
    where = _pos(exc.problem_mark) or _pos(exc.context_mark)
    if "expected a single document" in str(exc):
        return YamlIssue(
            "a second YAML document starts here (a `---` line); this file must hold one document",
            "remove the `---` line and merge what follows into the document above it, or split the file",
            where,
        )
    if "quoted scalar" in context and exc.context_mark is not None:
        return YamlIssue(
            "not valid YAML: the quote that opens here is never closed",
            "add the closing quote (the same kind, ' or \") at the end of this value",
            _pos(exc.context_mark),
        )
    if "\\t" in problem or "\t" in problem:
        hint = "indent with spaces, not tabs"
    elif "mapping values are not allowed" in problem:
        hint = "a value containing ': ' must be quoted; otherwise check the indentation of this line"
    elif "found undefined alias" in problem:
        hint = "define the anchor (&name) before using the alias (*name), or quote a value starting with *"
    else:
        hint = "check indentation (spaces, not tabs), colons after keys and matching brackets and quotes"
    return YamlIssue(f"not valid YAML: {problem}{f' ({context})' if context else ''}", hint, where)


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


def _count(root: yaml.Node, budget: _Budget) -> None:
    """The bounds alone, without positions (`data`, `load_documents`), at a fraction of `_walk`'s cost."""
    stack: list[tuple[yaml.Node, int]] = [(root, 0)]
    while stack:
        node, depth = stack.pop()
        budget.spend(node, depth)
        if isinstance(node, yaml.MappingNode):
            stack.extend((value, depth + 1) for _, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, depth + 1) for item in node.value)


_REFUSED = (_TooBig, yaml.YAMLError, RecursionError, ValueError, TypeError, OverflowError)
"""What reading a document can raise that is the document's fault (bounds, syntax, a value PyYAML
cannot build), for the readers that keep no positions."""


def _plain_issue(exc: BaseException) -> YamlIssue:
    if isinstance(exc, _TooBig):
        return _bounded_issue(exc)
    if isinstance(exc, yaml.MarkedYAMLError):
        return syntax_issue(exc)
    return YamlIssue(f"not valid YAML: {exc}", "fix the YAML", Position(1, 1))


def load_documents(text: str) -> tuple[list[Any], list[YamlIssue]]:
    """Every document of a multi-document stream (rendered manifests), under one shared bound."""
    oversized = _too_big(text)
    if oversized is not None:
        return [], [oversized]
    budget, documents = _Budget(), []
    try:
        loader = _Loader(text)
        try:
            while loader.check_node():
                node = loader.get_node()
                if node is None:
                    continue
                _count(node, budget)
                documents.append(loader.construct_document(node))
        finally:
            loader.dispose()
    except _REFUSED as exc:
        return [], [_plain_issue(exc)]
    return documents, []


def located(source: str, issue: YamlIssue) -> str:
    """`file:line:column: message`, the shape every bad-input message has."""
    where = f"{source}:{issue.position.line}:{issue.position.column}" if issue.position else source
    return f"{where}: {issue.message}"


class YamlRefused(ValueError):
    """A document `data` refused: the first issue, located, as the message."""

    def __init__(self, source: str, issue: YamlIssue) -> None:
        super().__init__(located(source, issue))
        self.issue = issue


def data(text: str, source: str) -> Any:
    """One document's plain data for readers that need no positions (manifests, credentials, rendered
    files); raises `YamlRefused`, a ValueError, so each reader's own handling of bad content applies."""
    oversized = _too_big(text)
    if oversized is not None:
        raise YamlRefused(source, oversized)
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            _count(node, _Budget())
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except _REFUSED as exc:
        raise YamlRefused(source, _plain_issue(exc)) from None

"""A located problem in an answer file, and its conversion to the shared `Check`."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Literal

from greenzone.results import Check, Status
from greenzone.yamlpos import KeyPath, Position, format_path

_STATUS = {"error": Status.FAIL, "warning": Status.WARN, "note": Status.SKIP}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an answer file: where, what, and how to fix it."""

    severity: Literal["error", "warning", "note"]
    path: KeyPath
    message: str
    hint: str
    file: str = ""
    position: Position | None = None
    expected: str = ""

    @property
    def location(self) -> str:
        if self.position is None:
            return self.file
        return f"{self.file}:{self.position.line}:{self.position.column}"

    @property
    def key(self) -> str:
        return format_path(self.path)

    def to_check(self) -> Check:
        detail = self.message if not self.expected else f"{self.message}\nthis key: {self.expected}"
        return Check(
            name=self.key,
            status=_STATUS[self.severity],
            detail=detail,
            remedy=self.hint,
            group="answers",
            location=self.location,
        )

    def one_line(self) -> str:
        """Compiler-style text, so editors and CI logs can jump to the line."""
        text = f"{self.location}: {self.severity}: {self.key}: {self.message}"
        if self.expected:
            text += f"\n    this key: {self.expected}"
        if self.hint:
            text += f"\n    fix: {self.hint}"
        return text


def did_you_mean(word: str, choices: list[str]) -> str | None:
    matches = difflib.get_close_matches(word, choices, n=1, cutoff=0.6)
    return matches[0] if matches else None

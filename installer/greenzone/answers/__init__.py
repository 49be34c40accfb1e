"""The answer file: model, validation with located problems, and the generated example."""

from __future__ import annotations

from greenzone.answers.model import Answers
from greenzone.answers.problems import Problem
from greenzone.answers.rules import Context
from greenzone.answers.validate import Validation, validate_text

__all__ = ["Answers", "Context", "Problem", "Validation", "validate_text"]

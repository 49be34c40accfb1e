"""What the wizard has learnt so far, shared by its screens (plain data, no Textual)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenzone.answers.model import Answers
from greenzone.bundle.manifest import Manifest
from greenzone.deploy.report import run_exit_code
from greenzone.install.gate import Gate
from greenzone.preflight.facts_model import Facts
from greenzone.results import ExitCode, Report


@dataclass
class WizardState:
    document: dict[str, Any]
    """The answer document being edited: the --answers file when given, else the fewest keys."""

    answers_file: Path | None = None
    bundle: Path | None = None
    public_key: Path | None = None
    manifest: Manifest | None = None
    verified: Report | None = None
    facts: Facts | None = None
    gate: Gate | None = None
    answers: Answers | None = None
    answers_text: str = ""
    saved_to: Path | None = None
    result: Report | None = None
    installing: bool = False
    """Phases are running: quitting now cancels at the next task, and asks so."""
    log_lines: list[str] = field(default_factory=list)

    def exit_code(self) -> ExitCode:
        """What the wizard exits with once the install has run (130 when it was canceled)."""
        return ExitCode.FAIL if self.result is None else run_exit_code(self.result)

    @property
    def bundle_ok(self) -> bool:
        return self.verified is not None and self.verified.status.value != "fail"

"""What the wizard has learnt so far, shared by its screens (plain data, no Textual)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from greenzone.results import ExitCode, Report

if TYPE_CHECKING:  # the models load after the first paint (tui/app.py)
    from greenzone.answers.model import Answers
    from greenzone.bundle.manifest import Manifest
    from greenzone.install.gate import Gate
    from greenzone.preflight.facts_model import Facts


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
        from greenzone.deploy.report import run_exit_code

        return ExitCode.FAIL if self.result is None else run_exit_code(self.result)

    @property
    def bundle_ok(self) -> bool:
        return self.verified is not None and self.verified.status.value != "fail"


def initial_document(answers_document: Mapping[str, Any] | None, bundle: str, public_key: str) -> dict[str, Any]:
    """The document the wizard starts from: the given answer file, else the fewest keys a valid file needs."""
    document = copy.deepcopy(dict(answers_document or {}))
    document.setdefault("version", 1)
    document.setdefault("appliance", {"name": "greenzone"})
    document.setdefault("network", {"hostname": ""})
    bundle_section = document.setdefault("bundle", {})
    if isinstance(bundle_section, dict):
        if bundle:
            bundle_section["path"] = bundle
        if public_key:
            bundle_section["public_key"] = public_key
    return document

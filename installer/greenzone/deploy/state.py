"""What each install phase has done, on disk, so that a re-run after a failure or a kill skips what
is complete and continues where it stopped.

A phase counts as done only for the inputs it ran with: the digest covers the answers as the model
reads them (comments, layout and key order do not count, so the file the wizard saves and the hand-
written one it came from are the same install) and the bundle manifest. Changing what the answers
mean re-runs every phase (Ansible then changes only what differs).
The file is replaced atomically after every transition; a kill leaves the previous state, never half
of one. A phase left `running` by a kill is simply run again: every role is idempotent.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from greenzone.atomic import write_text_atomic
from greenzone.errors import InputError

if TYPE_CHECKING:  # annotations only: the wizard reads plans and states before the model loads
    from greenzone.answers.model import Answers

STATE_FORMAT = 1
PhaseStatus = Literal["pending", "running", "done", "failed"]


@dataclass
class PhaseRecord:
    status: PhaseStatus = "pending"
    inputs: str = ""
    started: float | None = None
    finished: float | None = None
    changed: int = 0
    message: str = ""


@dataclass
class InstallState:
    path: Path
    phases: dict[str, PhaseRecord] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> InstallState:
        if not path.exists():
            return cls(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if raw.get("format") != STATE_FORMAT:
                raise ValueError(f"format {raw.get('format')!r}, expected {STATE_FORMAT}")
            phases = {name: PhaseRecord(**record) for name, record in raw["phases"].items()}
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise InputError(
                f"cannot read the install state {path}: {error}",
                hint=f"move {path} aside to start the install from the first phase (every phase is safe to re-run)",
            ) from None
        return cls(path, phases)

    def save(self) -> None:
        document = {"format": STATE_FORMAT, "phases": {name: asdict(record) for name, record in self.phases.items()}}
        write_text_atomic(self.path, json.dumps(document, indent=2, sort_keys=True) + "\n", mode=0o600)

    def record(self, phase: str) -> PhaseRecord:
        return self.phases.setdefault(phase, PhaseRecord())

    def unfinished(self, last_phase: str) -> bool:
        """An install ran and did not end: a phase not done, or the last phase never reached."""
        statuses = {record.status for record in self.phases.values()}
        return bool(self.phases) and (statuses != {"done"} or last_phase not in self.phases)

    def pending(self, phases: Sequence[str], inputs: str) -> list[str]:
        """The phases still to run, in order: everything from the first one not done with these inputs."""
        for index, phase in enumerate(phases):
            record = self.phases.get(phase)
            if record is None or record.status != "done" or record.inputs != inputs:
                return list(phases[index:])
        return []

    def start(self, phase: str, inputs: str) -> None:
        self.phases[phase] = PhaseRecord("running", inputs, started=time.time())
        self.save()

    def finish(self, phase: str, *, changed: int) -> None:
        record = self.record(phase)
        record.status, record.finished, record.changed, record.message = "done", time.time(), changed, ""
        self.save()

    def fail(self, phase: str, message: str) -> None:
        record = self.record(phase)
        record.status, record.finished, record.message = "failed", time.time(), message
        self.save()


def answers_identity(answers: Answers) -> str:
    """The answers' meaning as canonical JSON: what `inputs_digest` should be given for them."""
    return json.dumps(answers.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))


def inputs_digest(answers_text: str, manifest_text: str) -> str:
    digest = hashlib.sha256()
    for part in (answers_text, manifest_text):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part.encode("utf-8"))
    return digest.hexdigest()

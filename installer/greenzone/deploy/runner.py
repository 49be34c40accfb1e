"""The ansible-runner adapter: one phase of site.yml at a time, events folded into progress.

Each run gets a private, throw-away data directory (its artifacts hold every event); what is kept
is the full log, appended to the state directory's install.log with secrets redacted. `cancel()`
from any thread stops the running playbook at the next event.
`run_phases` adds resume: phases done with the same inputs are skipped, the others run in order
and each transition is recorded atomically (deploy/state.py).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenzone.deploy.events import PhaseProgress, apply_event, count_tasks
from greenzone.deploy.state import InstallState
from greenzone.errors import EnvironmentProblem
from greenzone.redact import REDACTOR

Listener = Callable[[PhaseProgress, str | None], None]


def _environment(extra: Mapping[str, str]) -> dict[str, str]:
    """ansible-playbook from this Python's environment, and no colour codes in the log."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {"PATH": path, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", **extra}


@dataclass
class PlaybookRunner:
    playbooks: Path
    inventory_file: Path
    extravars: dict[str, Any]
    log_file: Path
    envvars: dict[str, str] = field(default_factory=dict)
    playbook: str = "site.yml"

    def __post_init__(self) -> None:
        self._cancel = threading.Event()
        if shutil.which("ansible-playbook", path=_environment(self.envvars)["PATH"]) is None:
            raise EnvironmentProblem(
                "ansible-playbook was not found", hint="install greenzone with its dependencies (ansible-core)"
            )

    def cancel(self) -> None:
        self._cancel.set()

    def _tag_args(self, tags: str, skip_tags: Sequence[str]) -> list[str]:
        return ["--tags", tags] + (["--skip-tags", ",".join(skip_tags)] if skip_tags else [])

    def count(self, phase: str, skip_tags: Sequence[str] = ()) -> int:
        listed = subprocess.run(
            [
                "ansible-playbook",
                "-i",
                str(self.inventory_file),
                self.playbook,
                "--list-tasks",
                *self._tag_args(phase, skip_tags),
            ],
            cwd=self.playbooks,
            env={**os.environ, **_environment(self.envvars)},
            capture_output=True,
            text=True,
        )
        return count_tasks(listed.stdout) if listed.returncode == 0 else 0

    def run(
        self, phase: str, *, check: bool = False, skip_tags: Sequence[str] = (), listener: Listener | None = None
    ) -> PhaseProgress:
        import ansible_runner

        progress = PhaseProgress(phase, self.count(phase, skip_tags), started=time.time())
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        with (
            tempfile.TemporaryDirectory(prefix=f"greenzone-{phase}-") as private,
            os.fdopen(os.open(self.log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as log,
        ):
            log.write(f"\n===== phase {phase}{' (check mode)' if check else ''} at {time.ctime()} =====\n")

            def on_event(event: dict[str, Any]) -> bool:
                if event.get("stdout"):
                    log.write(REDACTOR.redact(str(event["stdout"])) + "\n")
                    log.flush()
                line = apply_event(progress, event)
                if listener is not None:
                    listener(progress, line)
                return False  # ansible-runner need not keep the event on disk: the data dir is discarded

            cmdline = "--check --diff" if check else ""
            result = ansible_runner.run(
                private_data_dir=private,
                project_dir=str(self.playbooks),
                playbook=self.playbook,
                inventory=str(self.inventory_file),
                extravars=self.extravars,
                tags=phase,
                skip_tags=",".join(skip_tags) or None,
                cmdline=cmdline or None,
                envvars=_environment(self.envvars),
                event_handler=on_event,
                cancel_callback=self._cancel.is_set,
                quiet=True,
                # ansible-runner polls `cancel_callback` once per `pexpect_timeout` (5 s by default),
                # so a cancel could land after a fast phase had already finished; 0.25 s keeps
                # "stops at the next event" true for the wizard's Cancel and for Ctrl-C.
                settings={"suppress_ansible_output": True, "pexpect_timeout": 0.25},
            )
            log.write(f"===== phase {phase}: {result.status} (rc {result.rc}) =====\n")
        progress.finished = time.time()
        if result.status == "successful":
            progress.outcome = "successful"
        elif result.status == "canceled" or self._cancel.is_set():
            progress.outcome = "canceled"
        else:
            progress.outcome = "failed"
        if listener is not None:
            listener(progress, progress.summary())
        return progress


def run_phases(
    runner: PlaybookRunner,
    phases: Sequence[str],
    state: InstallState,
    inputs: str,
    *,
    check: bool = False,
    skip_tags: Sequence[str] = (),
    listener: Listener | None = None,
) -> list[PhaseProgress]:
    """Run what is not yet done, in order; stop at the first failure or cancellation.

    Check mode runs every phase and records nothing: it predicts, it does not progress."""
    todo = list(phases) if check else state.pending(phases, inputs)
    done: list[PhaseProgress] = []
    for phase in todo:
        if not check:
            state.start(phase, inputs)
        progress = runner.run(phase, check=check, skip_tags=skip_tags, listener=listener)
        done.append(progress)
        if check:
            if progress.outcome != "successful":
                break
            continue
        if progress.outcome == "successful":
            state.finish(phase, changed=progress.changed)
        else:
            reason = "; ".join(failure.line() for failure in progress.failures) or progress.outcome
            state.fail(phase, reason)
            break
    return done

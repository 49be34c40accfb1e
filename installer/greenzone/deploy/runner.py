"""The ansible-runner adapter: one phase of site.yml at a time, events folded into progress.

Each run gets a private, throw-away data directory (its artifacts hold every event); what is kept
is the full log, appended to the state directory's install log with secrets redacted. `cancel()`
from any thread stops the running playbook at the next event. Which phases run, in which order and
what is recorded is the install session's business (`install/session.py`), its only caller.
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

from greenzone.deploy.ansible_events import PhaseProgress, apply_event, tasks_per_phase
from greenzone.errors import EnvironmentProblem
from greenzone.redact import REDACTOR
from greenzone.resources import playbooks_dir
from greenzone.statedir import StateDir

Listener = Callable[[PhaseProgress, str | None], None]


def _environment(extra: Mapping[str, str]) -> dict[str, str]:
    """ansible-playbook from this Python's environment, and no colour codes in the log."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {"PATH": path, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", **extra}


@dataclass
class PlaybookRunner:
    state: StateDir
    extravars: dict[str, Any]
    playbooks: Path = field(default_factory=playbooks_dir)
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

    @property
    def canceled(self) -> bool:
        return self._cancel.is_set()

    def count(self, phases: Sequence[str], skip_tags: Sequence[str] = ()) -> dict[str, int]:
        """Tasks per phase from one `--list-tasks` of the whole playbook: it only sizes progress bars,
        so a listing that fails counts nothing rather than stopping the install."""
        skip = ["--skip-tags", ",".join(skip_tags)] if skip_tags else []
        try:
            listed = subprocess.run(
                ["ansible-playbook", "-i", str(self.state.inventory), self.playbook, "--list-tasks", *skip],
                cwd=self.playbooks,
                env={**os.environ, **_environment(self.envvars)},
                capture_output=True,
                text=True,
                timeout=120,
            )
        except (OSError, subprocess.TimeoutExpired):
            return tasks_per_phase("", phases)
        return tasks_per_phase(listed.stdout if listed.returncode == 0 else "", phases)

    def run(
        self,
        phase: str,
        *,
        tasks_total: int = 0,
        check: bool = False,
        skip_tags: Sequence[str] = (),
        listener: Listener | None = None,
    ) -> PhaseProgress:
        import ansible_runner

        progress = PhaseProgress(phase, tasks_total, started=time.time())
        log_file = self.state.install_log
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with (
            tempfile.TemporaryDirectory(prefix=f"greenzone-{phase}-") as private,
            os.fdopen(os.open(log_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600), "a") as log,
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
                inventory=str(self.state.inventory),
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

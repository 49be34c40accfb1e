"""The ansible-runner adapter: one phase of site.yml at a time, events folded into progress.

Each run gets a private, throw-away data directory (its artifacts hold every event); what is kept
is the full log, appended to the state directory's install log with secrets redacted. `cancel()`
from any thread stops the running playbook at the next event. Which phases run, in which order and
what is recorded is the install session's business (`install/session.py`), its only caller.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenzone.atomic import scratch_directory
from greenzone.deploy.ansible_events import PhaseProgress, apply_event, tasks_per_phase
from greenzone.errors import EnvironmentProblem
from greenzone.redact import REDACTOR
from greenzone.resources import playbooks_dir
from greenzone.statedir import StateDir

Listener = Callable[[PhaseProgress, str | None], None]
RUN_MARKER = "GREENZONE_RUN"
"""Set in the environment of everything a phase starts, so that what survives it can be found."""


def _marked(marker: str, place: str) -> list[int]:
    """Processes carrying `marker` in their environment, or naming `place` on their command line (an
    SSH master rewrites its process title over its environment, but names its control socket)."""
    needle = f"{RUN_MARKER}={marker}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            environ = (proc / "environ").read_bytes()
            command = (proc / "cmdline").read_bytes()
        except OSError:
            continue  # gone already, or not ours to read
        if needle in environ.split(b"\0") or place.encode() in command:
            found.append(int(proc.name))
    return [pid for pid in found if pid != os.getpid()]


def _control_parent() -> Path:
    """Where this phase's SSH masters keep their sockets: a fresh directory with a short path, since
    a Unix socket's path is limited to 107 bytes (ssh adds 27 of its own) and TMPDIR may be long.
    Resolved: Ansible names the sockets by the real path, and that is what the masters' titles show."""
    base = tempfile.gettempdir()
    return Path(base if len(base) <= 48 else "/tmp").resolve()


def reap(marker: str, place: str, grace: float = 3.0) -> list[int]:
    """Stop every process a phase started that outlived it, and wait for them.

    ansible-runner stops the `ansible-playbook` it started, but not what that one started in turn:
    its forked workers, and the SSH connection masters that `ControlPersist` keeps for a minute
    (they detach into sessions of their own, their control sockets under `place`). SIGTERM first,
    SIGKILL after `grace` seconds. Returns the PIDs that were still running."""
    found = alive = _marked(marker, place)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if not alive:
            break
        # `alive` is always the latest scan: a PID gone since an older one may name another process now.
        for pid in alive:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + grace
        while (alive := _marked(marker, place)) and time.monotonic() < deadline:
            time.sleep(0.05)
    return found


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
    limit: str | None = None
    """Only these inventory hosts (`node add`: the new node), as `ansible-playbook --limit`."""

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
        return tasks_per_phase(listed.stdout if listed.returncode == 0 else "", phases, self._empty_groups())

    def _empty_groups(self) -> set[str]:
        """The inventory's groups without hosts (no agents on a single-node appliance)."""
        try:
            inventory = json.loads(self.state.inventory.read_text(encoding="utf-8"))
            groups = inventory["all"]["children"]["k3s_cluster"]["children"]
        except (OSError, ValueError, KeyError, TypeError):
            return set()
        return {name for name, group in groups.items() if not (group or {}).get("hosts")}

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
        marker = uuid.uuid4().hex
        log_file = self.state.install_log
        log_file.parent.mkdir(parents=True, exist_ok=True)
        with (
            scratch_directory("gz-ssh-", _control_parent()) as control,
            scratch_directory(f"greenzone-{phase}-") as private,
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
            try:
                result = ansible_runner.run(
                    private_data_dir=str(private),
                    project_dir=str(self.playbooks),
                    playbook=self.playbook,
                    inventory=str(self.state.inventory),
                    limit=self.limit,
                    extravars=self.extravars,
                    tags=phase,
                    skip_tags=",".join(skip_tags) or None,
                    cmdline=cmdline or None,
                    envvars={
                        **_environment(self.envvars),
                        RUN_MARKER: marker,
                        # SSH connection masters of this phase keep their sockets here, to be found.
                        "ANSIBLE_SSH_CONTROL_PATH_DIR": str(control),
                    },
                    event_handler=on_event,
                    cancel_callback=self._cancel.is_set,
                    quiet=True,
                    # ansible-runner polls `cancel_callback` once per `pexpect_timeout` (5 s by default),
                    # so a cancel could land after a fast phase had already finished; 0.25 s keeps
                    # "stops at the next event" true for the wizard's Cancel and for Ctrl-C.
                    settings={"suppress_ansible_output": True, "pexpect_timeout": 0.25},
                )
            finally:  # also on a second Ctrl-C (KeyboardInterrupt): nothing it started outlives greenzone
                try:
                    survivors = reap(marker, str(control))
                finally:  # even when yet another Ctrl-C cuts the reaping short
                    shutil.rmtree(control, ignore_errors=True)  # and once more on the way out, if so
                if survivors:
                    log.write(f"===== phase {phase}: stopped {len(survivors)} process(es) it left running =====\n")
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

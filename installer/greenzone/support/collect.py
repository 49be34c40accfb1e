"""Collectors run at once, each under its own timeout inside one budget; what each got is redacted
as it arrives and bounded in size; the archive is written whatever any collector did.

A collector that hangs (an API that accepts and never answers, a wedged `journalctl`) is left
behind when its time is up: its thread is a daemon, what it added before is kept, anything it adds
later is dropped, and the index says it timed out. One that fails records its error, redacted.
"""

from __future__ import annotations

import contextlib
import json
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from greenzone.support.redaction import SupportRedactor

log = logging.getLogger(__name__)

MEMBER_LIMIT = 4 * 2**20
"""The most bytes one member keeps (its end: the latest lines of a log are the useful ones)."""
COLLECTOR_LIMIT = 64 * 2**20
"""The most bytes one collector adds, so that no collector can fill the USB stick."""


class Sink:
    """Where a collector puts what it found: redacted on the way in, bounded, and closed when its
    time is up."""

    def __init__(self, collector: str, redactor: SupportRedactor) -> None:
        self.collector = collector
        self.redactor = redactor
        self.members: dict[str, bytes] = {}
        self.notes: list[str] = []
        self.truncated: list[str] = []
        self._size = 0
        self._open = True
        self._children: set[subprocess.Popen[str]] = set()
        self._lock = threading.Lock()

    def text(self, name: str, text: str, *, engine_log: bool = False) -> None:
        name = self.redactor.name(name)
        data = self.redactor.text(text, engine_log=engine_log).encode("utf-8", "replace")
        if len(data) > MEMBER_LIMIT:
            data = b"[... earlier lines left out: the member keeps its last 4 MiB ...]\n" + data[-MEMBER_LIMIT:]
            self.truncated.append(name)
        with self._lock:
            if not self._open:
                return
            if self._size + len(data) > COLLECTOR_LIMIT:
                self.truncated.append(name)
                self.notes.append(f"{name}: left out, the collector reached its {COLLECTOR_LIMIT // 2**20} MiB")
                return
            self.members[f"{self.collector}/{name}"] = data
            self._size += len(data)

    def json(self, name: str, value: Any) -> None:
        """Each string redacted as it is (a secret with a quote or an accent is still itself), then
        the document as text (rules that need context, such as `--api-key` then its value)."""
        self.text(name, json.dumps(self._strings(value), indent=2, sort_keys=True, default=str) + "\n")

    def _strings(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.redactor.text(value)
        if isinstance(value, dict):
            return {
                self._strings(key) if isinstance(key, str) else key: self._strings(item) for key, item in value.items()
            }
        if isinstance(value, (list, tuple)):
            return [self._strings(item) for item in value]
        return value

    def note(self, text: str) -> None:
        """Something the vendor should know about what was (not) collected, e.g. a missing tool."""
        with self._lock:
            if self._open:
                self.notes.append(self.redactor.text(text))

    def run(self, command: Sequence[str], timeout: float, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        """A local command for this collector, killed at `timeout` (TimeoutExpired) and when the
        collector's time is up or the command is interrupted, so none outlives greenzone."""
        process = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
        )
        with self._lock:
            self._children.add(process)
            if not self._open:  # the time was up while it started
                process.kill()
        try:
            out, err = process.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise
        finally:
            with self._lock:
                self._children.discard(process)
        return subprocess.CompletedProcess(list(command), process.returncode, out, err)

    def close(self) -> None:
        with self._lock:
            self._open = False
            for child in self._children:
                with contextlib.suppress(ProcessLookupError):
                    child.kill()


Work = Callable[[Sink], None]


class Skipped(Exception):
    """A collector with nothing to do here (nothing installed, no kubeconfig): not an error."""


@dataclass(frozen=True)
class Collector:
    name: str
    work: Work
    timeout: float
    what: str
    """What it collects, for the index: the vendor reads what should have been there."""


@dataclass
class Outcome:
    name: str
    what: str
    status: str = "running"  # ok | error | timed out | skipped
    seconds: float = 0.0
    error: str = ""
    members: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "what": self.what,
            "status": self.status,
            "seconds": round(self.seconds, 3),
            "error": self.error,
            "members": self.members,
            "notes": self.notes,
            "truncated": self.truncated,
        }


class _Run:
    def __init__(self, collector: Collector, redactor: SupportRedactor) -> None:
        self.collector = collector
        self.sink = Sink(collector.name, redactor)
        self.outcome = Outcome(collector.name, collector.what)
        self.done = threading.Event()
        self.started = time.monotonic()
        threading.Thread(target=self._work, name=f"support-{collector.name}", daemon=True).start()

    def _work(self) -> None:
        try:
            self.collector.work(self.sink)
            self.outcome.status = "ok"
        except Skipped as skipped:
            self.outcome.status, self.outcome.error = "skipped", self.sink.redactor.text(str(skipped))
        except BaseException as error:  # recorded, never raised: the other collectors go on
            log.debug("collector %s failed", self.collector.name, exc_info=True)
            self.outcome.status = "error"
            self.outcome.error = self.sink.redactor.text(f"{type(error).__name__}: {error}")
        finally:
            self.outcome.seconds = time.monotonic() - self.started
            self.done.set()


def collect(
    collectors: Sequence[Collector], budget: float, redactor: SupportRedactor
) -> tuple[dict[str, bytes], list[Outcome]]:
    """Every collector at once; returns the members (name -> redacted bytes) and one outcome each,
    within `budget` seconds whatever the collectors do."""
    started = time.monotonic()
    runs = [_Run(collector, redactor) for collector in collectors]
    try:
        for run in runs:
            limit = min(started + budget, run.started + run.collector.timeout)
            run.done.wait(max(0.0, limit - time.monotonic()))
    finally:  # also on Ctrl-C or SIGTERM: no command a collector started outlives greenzone
        for run in runs:
            run.sink.close()
    members: dict[str, bytes] = {}
    outcomes = []
    for run in runs:
        outcome = run.outcome
        if not run.done.is_set():
            allowed = min(run.collector.timeout, budget)
            outcome.status, outcome.seconds = "timed out", time.monotonic() - run.started
            outcome.error = f"no result within {allowed:g} s; what it had collected by then is kept"
        with run.sink._lock:
            found = dict(run.sink.members)
            outcome.notes = list(run.sink.notes)
            outcome.truncated = list(run.sink.truncated)
        outcome.members = {name: len(data) for name, data in found.items()}
        members.update(found)
        outcomes.append(outcome)
    return members, outcomes

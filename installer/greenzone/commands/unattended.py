"""The unattended install: preflight -> verify -> plan -> install from an answer file, one event per
line (text, or JSON Lines with `--output json`). Refuses to start when preflight fails unless
`--force-preflight` names the failures to override; Ctrl-C or SIGTERM stops the running phase at its
next task and records it, so the same command resumes later.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
from collections.abc import Callable

from greenzone.answers.files import load_valid_answers
from greenzone.answers.model import Answers
from greenzone.bundle.manifest import Manifest, read_bundle_manifest
from greenzone.deploy.ansible_events import PhaseProgress
from greenzone.deploy.report import run_exit_code
from greenzone.errors import GreenzoneError, InputError
from greenzone.install.events import InstallEvent, check_event, phase_event, task_event
from greenzone.install.gate import check_forced_names
from greenzone.install.session import InstallSession, has_local_node, urls
from greenzone.install.tracker import Tracker, duration
from greenzone.results import Check, ExitCode, Finished, Report, Status

Emit = Callable[[InstallEvent], None]


def _printer(json_mode: bool) -> Emit:
    lock = threading.Lock()

    def emit(event: InstallEvent) -> None:
        with lock:
            print(event.to_json() if json_mode else event.line(), flush=True)

    return emit


class _VerifyMeter:
    """Bytes hashed (from many threads) -> one event per tenth of the bundle."""

    def __init__(self, emit: Emit) -> None:
        self.emit, self.total, self.done, self.shown = emit, 0, 0, 0
        self.lock = threading.Lock()

    def start(self, total: int) -> None:
        self.total = total

    def advance(self, size: int) -> None:
        with self.lock:
            self.done += size
            tenth = self.done * 10 // self.total if self.total else 10
            if tenth <= self.shown:
                return
            self.shown = tenth
        self.emit(
            InstallEvent(
                "verify",
                "bundle",
                "running",
                f"{tenth * 10}% of {self.total / 2**20:.0f} MiB",
                {"fraction": tenth / 10},
            )
        )


def _confirm(args: argparse.Namespace, nodes: int) -> None:
    if args.yes or args.check:
        return
    if not sys.stdin.isatty():
        raise InputError(
            "an unattended install changes the machines and needs --yes to start",
            hint="add --yes, or --check to see what would change",
        )
    reply = input(f"Install the appliance on {nodes} node(s)? [y/N] ").strip().lower()
    if reply not in ("y", "yes"):
        raise InputError("install not confirmed; nothing was changed", hint="answer `y`, or pass --yes")


def _finish(report: Report, json_mode: bool, emit: Emit, extra: list[str]) -> ExitCode | Finished:
    """The JSON stream ends with its own result event; on a terminal the one printer shows the report."""
    code = run_exit_code(report)
    if json_mode:
        emit(InstallEvent("result", report.command, report.status.value, report.title, report.to_dict()))
        return code
    return Finished(report, code, tuple(extra))


def _health(session: InstallSession, answers: Answers, manifest: Manifest, emit: Emit) -> None:
    """The phases say what ran; one health run says whether the appliance works. Its verdict is
    told, not folded into the exit code: the install did what it was asked, and `greenzone health`
    is the command whose exit code monitoring reads."""
    emit(InstallEvent("step", "health", "running", "checking that every layer works (greenzone health)"))
    try:
        health = session.health(answers, manifest)
    except GreenzoneError as error:
        emit(InstallEvent("step", "health", Status.WARN.value, f"could not run: {error.title} — fix: {error.hint}"))
        return
    for check in health.checks:
        if check.status in (Status.FAIL, Status.WARN):
            emit(check_event(check))
    emit(
        InstallEvent("step", "health", health.status.value, health.tally() or "no checks", {"counts": health.counts()})
    )


def unattended(session: InstallSession, args: argparse.Namespace) -> ExitCode | Finished:
    json_mode = args.output == "json"
    emit = _printer(json_mode)
    answers = load_valid_answers(args.answers, args.bundle)
    bundle = args.bundle or answers.bundle.path
    _, manifest = read_bundle_manifest(bundle)

    emit(InstallEvent("step", "preflight", "running", "checking this machine"))
    facts = session.facts(answers) if has_local_node(answers) else None
    gate = session.preflight(facts, answers, manifest)
    check_forced_names(session.forced, gate.checks)
    for check in gate.checks:
        emit(check_event(check))
    if not gate.open:
        names = ", ".join(check.name for check in gate.blocking)
        refusal = Check(
            "preflight",
            Status.FAIL,
            f"{len(gate.blocking)} check(s) failed: {names}; nothing was changed",
            f"fix them, or override named ones with --force-preflight {','.join(c.name for c in gate.blocking)}",
            group="install",
        )
        return _finish(Report("install", (*gate.blocking, refusal), title="Install refused"), json_mode, emit, [])

    public_key = args.key or answers.bundle.public_key
    emit(InstallEvent("step", "verify", "running", f"checking {bundle} against {public_key}"))
    meter = _VerifyMeter(emit)
    verified = session.verify(bundle, public_key, on_total=meter.start, on_advance=meter.advance)
    bad = [check for check in verified.checks if check.status is Status.FAIL]
    if bad:
        return _finish(
            Report("install", tuple(bad), title=f"Install refused: the bundle {bundle} does not verify"),
            json_mode,
            emit,
            [],
        )
    emit(InstallEvent("step", "verify", "pass", f"{len(verified.checks)} checks passed"))

    prepared = session.prepare(answers, args.answers.resolve(), bundle)
    for view in prepared.tracker.views:
        status = "skip" if view.state == "skipped" else ("check" if session.check else "todo")
        detail = "done earlier with these answers and bundle" if view.state == "skipped" else view.phase.title
        emit(InstallEvent("plan", view.phase.name, status, detail))
    if not prepared.pending:
        emit(InstallEvent("step", "install", "done", "every phase is done with these answers and bundle"))
    if session.check:
        emit(
            InstallEvent(
                "step",
                "check mode",
                "check",
                "predicts only: works in a throw-away copy of the state directory and skips the waits "
                "for what only a real run starts (nodes Ready, GPUs); the Ansible log is kept as "
                f"{session.state_dir.check_log}",
            )
        )
    _confirm(args, len(answers.nodes))

    seen: set[str] = set()

    def listener(tracker: Tracker, progress: PhaseProgress, line: str | None) -> None:
        if progress.phase not in seen:
            seen.add(progress.phase)
            emit(InstallEvent("phase", progress.phase, "running", tracker.view(progress.phase).phase.title))
        if progress.outcome != "running":
            event = phase_event(progress)
            eta = tracker.eta(time.time())
            fields = {**event.fields, "overall": round(tracker.fraction(), 3), "eta_seconds": eta}
            left = f"; about {duration(eta)} left" if eta else ""
            emit(InstallEvent("phase", event.name, event.status, event.detail + left, fields))
        elif line:
            emit(task_event(progress, line))

    with session.cancel_on_signals():
        report = session.run(prepared, listener).report
    extra = []
    if report.data.get("outcome") == "successful" and not session.check:
        _health(session, answers, manifest, emit)
        extra = [f"{name}: {url}" for name, url in urls(answers).items()]
        extra.append(f"credentials: {session.state_dir.credentials} (mode 0600, root only)")
    return _finish(report, json_mode, emit, extra)

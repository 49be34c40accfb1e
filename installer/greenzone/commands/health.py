"""`greenzone health`: one run, or `--watch` runs refreshed in place; optional Prometheus textfile.

Without `--answers` it reads what the last install recorded in the state directory (the answers and
the bundle manifest), so the operator on call needs no file name at 3 a.m.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import datetime
import json
import socket
import sys
import time
from pathlib import Path

from greenzone.answers.files import load_valid_answers
from greenzone.atomic import refuse_directory, write_text_atomic
from greenzone.bundle.manifest import MANIFEST_NAME, ManifestError, parse_manifest, read_bundle_manifest
from greenzone.errors import InputError, from_os_error
from greenzone.health.metrics import prometheus_text
from greenzone.health.run import LAYERS, HealthRun, run_health
from greenzone.health.targets import Targets, health_targets, parse_endpoints
from greenzone.results import ExitCode, Finished, Report, Status
from greenzone.statedir import StateDir


def _answers_path(args: argparse.Namespace, state: StateDir) -> Path:
    if args.answers is not None:
        explicit: Path = args.answers
        return explicit
    recorded = state.installed_answers
    if recorded.is_file():
        return recorded
    raise InputError(
        f"no answers: nothing was installed from {state} ({recorded.name} is missing)",
        hint="pass --answers FILE (the file the appliance was installed with), or --state-dir of the install",
    )


def _images(args: argparse.Namespace, state: StateDir, bundle_path: Path) -> list[tuple[str, str]]:
    """The bundle's images: from --bundle, else what the install recorded (`recorded_images`)."""
    if args.bundle is not None:
        _, manifest = read_bundle_manifest(Path(args.bundle))
        return [(image.ref, image.digest) for image in manifest.images]
    return recorded_images(state, bundle_path)


def recorded_images(state: StateDir, bundle_path: Path) -> list[tuple[str, str]]:
    """The images of the manifest the install recorded, else of the answers' bundle when it is
    still attached; none (the image check says so) otherwise."""
    for path in (state.installed_manifest, bundle_path / MANIFEST_NAME):
        try:
            found = parse_manifest(path.read_text(encoding="utf-8"), str(path))
        except (OSError, UnicodeDecodeError, ManifestError):
            continue
        return [(image.ref, image.digest) for image in found.images]
    return []


def _targets(args: argparse.Namespace) -> Targets:
    state = StateDir.locate(args.state_dir)
    answers = load_valid_answers(_answers_path(args, state))
    endpoints = parse_endpoints(args.endpoint or [])
    images = _images(args, state, answers.bundle.path)
    return health_targets(answers, state, images, endpoints, hostname=socket.gethostname())


def _layers(args: argparse.Namespace) -> tuple[str, ...]:
    return tuple(args.layer) if args.layer else LAYERS


def _write_metrics(path: Path, run: HealthRun) -> None:
    text = prometheus_text(
        run.report,
        finished_at=time.time(),
        seconds=run.seconds,
        layer_seconds=run.layer_seconds,
        latencies=run.latencies,
    )
    try:
        write_text_atomic(path, text, 0o644)  # the collector reads only *.prom; the temp file is not one
    except OSError as error:
        problem = from_os_error(error, "cannot write the metrics file")
        problem.hint += "; --metrics belongs in node-exporter's textfile directory (--collector.textfile.directory)"
        raise problem from None


def _once(args: argparse.Namespace, targets: Targets) -> HealthRun:
    run = run_health(targets, budget=args.budget, layers=_layers(args))
    if args.metrics:
        _write_metrics(Path(args.metrics), run)
    _keep_last(StateDir.locate(args.state_dir), run)
    return run


def _keep_last(state: StateDir, run: HealthRun) -> None:
    """For `greenzone support-bundle`: best effort, since health also runs as a user who may only read
    the state directory, and a health run must not fail for that."""
    if not state.root.is_dir():
        return
    document = {"at": datetime.datetime.now(datetime.UTC).isoformat(), **run.report.to_dict()}
    with contextlib.suppress(OSError):
        write_text_atomic(state.last_health, json.dumps(document, indent=2, default=str) + "\n", 0o600)


SUPPORT_NEXT = (
    "next: if the remedies above do not help, `greenzone support-bundle` writes one redacted archive "
    "with what the vendor needs (logs, events, this run's findings); carry it out on a USB drive"
)


def health(args: argparse.Namespace) -> Report | Finished | ExitCode:
    if args.budget <= 0:
        raise InputError(f"--budget {args.budget:g} must be more than 0 seconds", hint="the default is 10")
    if args.metrics:  # refused before the run, not after it
        refuse_directory(Path(args.metrics), "--metrics (the Prometheus text file)")
    targets = _targets(args)
    if args.watch is None:
        report = _once(args, targets).report
        if report.status is Status.FAIL:
            return Finished(report, report.exit_code, (SUPPORT_NEXT,))
        return report
    if args.watch < 1:
        raise InputError(
            f"--watch {args.watch:g} is too short", hint="refresh at most once a second: --watch 1 or more"
        )
    return _watch(args, targets)


def _watch(args: argparse.Namespace, targets: Targets) -> ExitCode:
    """Refresh until Ctrl-C: in place on a terminal (failures and warnings only, so they fit one
    screen), one full report after another (or one JSON document per line with --json) otherwise.
    The exit code is the last run's."""
    from rich.console import Group
    from rich.live import Live
    from rich.text import Text

    from greenzone import output

    out = output.console()
    last: Report | None = None
    live = Live(console=out, auto_refresh=False) if out.is_terminal and not args.json else None
    try:
        if live:
            live.start()
        while True:
            started = time.monotonic()
            run = _once(args, targets)
            last = run.report
            footer = Text(f"every {args.watch:g} s, last at {time.strftime('%H:%M:%S')}; Ctrl-C stops", style="dim")
            if args.json:
                sys.stdout.write(json.dumps(last.to_dict(), default=str) + "\n")
                sys.stdout.flush()
            elif live:
                # A terminal holds one screen: show what needs attention, count the rest.
                problems = tuple(check for check in last.checks if check.status in (Status.FAIL, Status.WARN))
                shown = output.report_renderables(dataclasses.replace(last, checks=problems))[:-1]
                live.update(Group(*shown, output.summary_line(last), footer), refresh=True)
            else:
                output.print_report(last, out)
                out.print(footer)
            time.sleep(max(0.0, args.watch - (time.monotonic() - started)))
    except KeyboardInterrupt:
        pass
    finally:
        if live:
            live.stop()
    return last.exit_code if last else ExitCode.INTERRUPTED

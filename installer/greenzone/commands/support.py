"""`greenzone support-bundle`: what the vendor needs from an air-gapped site in one redacted archive;
`greenzone support-bundle analyze FILE`: the vendor's offline reading of it.

Collection never needs the network beyond the appliance itself, always writes the archive within
its budget, and records per collector what it got, how long it took and why not.
"""

from __future__ import annotations

import argparse
import datetime
import re
import socket
import time
from pathlib import Path
from typing import Any

from greenzone import __version__
from greenzone.errors import InputError
from greenzone.results import Check, Report, Status
from greenzone.statedir import StateDir

DEFAULT_BUDGET = 60.0
WRITE_RESERVE = 1.0
"""Seconds of the budget kept for compressing and writing the archive."""
HEALTH_BUDGET = 10.0
INDEX_FORMAT = 1
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h|d)\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_STATUS = {"ok": Status.PASS, "skipped": Status.SKIP, "error": Status.WARN, "timed out": Status.WARN}


def parse_duration(text: str) -> datetime.timedelta:
    match = _DURATION.match(text)
    if not match:
        raise InputError(f"--since {text!r} is not a duration", hint="write e.g. 30m, 6h or 2d")
    seconds = float(match.group(1)) * _UNIT[match.group(2)]
    if not 0 < seconds <= 3650 * 86400:
        raise InputError(f"--since {text} is out of range", hint="from 1s up to 3650d (ten years)")
    return datetime.timedelta(seconds=seconds)


def _targets(state: StateDir, endpoints: dict[str, str]) -> tuple[Any, Any, str]:
    """The installed answers and what health looks at, from what the last install recorded; or why
    there is nothing to look at."""
    from greenzone.answers.validate import validate_text
    from greenzone.commands.health import recorded_images
    from greenzone.health.targets import health_targets

    if not state.installed_answers.is_file():
        return None, None, f"nothing was installed from {state} (no {state.installed_answers.name})"
    validation = validate_text(state.installed_answers.read_text(errors="replace"), str(state.installed_answers))
    if validation.answers is None:
        return None, None, f"{state.installed_answers} no longer validates: {validation.problems[0].one_line()}"
    answers = validation.answers
    images = recorded_images(state, answers.bundle.path)  # the images `greenzone health` itself expects
    return answers, health_targets(answers, state, images, endpoints, hostname=socket.gethostname()), ""


def _secrets(state: StateDir) -> list[str]:
    """Every value the site must keep: the credentials file whole, the kubeconfig's keys and token,
    the values files' passwords, k3s's join tokens, and secret-looking variables of this process."""
    import os

    import yaml

    from greenzone.redact import is_secret_key
    from greenzone.support.redaction import secret_values

    found: list[str] = []
    sources = [(state.credentials, True), (state.kubeconfig, False)]
    sources += [(path, False) for path in sorted(state.values_dir.glob("*.yaml"))] if state.values_dir.is_dir() else []
    for path, every_value in sources:
        try:
            found += secret_values(yaml.safe_load(path.read_text()), every_value=every_value)
        except (OSError, yaml.YAMLError, UnicodeDecodeError):
            continue
    for token in ("server/token", "server/node-token", "server/agent-token", "agent/token"):
        try:
            found += [line.strip() for line in (Path("/var/lib/rancher/k3s") / token).read_text().splitlines()]
        except OSError:
            continue
    found += [value for key, value in os.environ.items() if is_secret_key(key)]
    return [value for value in found if len(value) >= 4]


def support_bundle(args: argparse.Namespace) -> Report:
    from greenzone.support.archive import write_archive
    from greenzone.support.collect import collect
    from greenzone.support.redaction import SupportRedactor
    from greenzone.support.sources import Site, collectors, local_host_names

    budget: float = args.budget
    if budget <= WRITE_RESERVE + 1:
        raise InputError(f"--budget {budget:g} is too short", hint=f"give at least {WRITE_RESERVE + 2:g} seconds")
    since = parse_duration(args.since)
    started = time.monotonic()
    now = datetime.datetime.now(datetime.UTC)
    state = StateDir.locate(args.state_dir)
    host = socket.gethostname()
    stamp = now.strftime("%Y%m%dT%H%M%SZ")
    default_name = (
        f"greenzone-support-{stamp}.tar.gz" if args.redact_ips else f"greenzone-support-{host}-{stamp}.tar.gz"
    )
    out = Path(args.out) if args.out else Path.cwd() / default_name
    if out.is_dir():
        out = out / default_name
    from greenzone.health.targets import parse_endpoints

    answers, targets, why = _targets(state, dict(parse_endpoints(args.endpoint or [])))
    names = local_host_names()
    if answers is not None:
        names += [answers.network.hostname, *(node.name or "" for node in answers.nodes)]
        names += [node.address for node in answers.nodes if node.address != "local"]
    redactor = SupportRedactor(secrets=_secrets(state), hide_addresses=args.redact_ips, host_names=names)
    site = Site(state, answers, targets, why, now - since, min(HEALTH_BUDGET, budget / 3))
    work = budget - WRITE_RESERVE - (time.monotonic() - started)
    members, outcomes = collect(collectors(site, work), work, redactor)
    index = {
        "format": INDEX_FORMAT,
        "greenzone": __version__,
        "created_at": now.isoformat(),
        "host": redactor.text(host) if args.redact_ips else host,
        "since": (now - since).isoformat(),
        "budget_seconds": budget,
        "seconds": round(time.monotonic() - started, 3),
        "redact_ips": bool(args.redact_ips),
        "collectors": [outcome.to_dict() for outcome in outcomes],
        "redactions": dict(sorted(redactor.counts.items())),
    }
    top = f"greenzone-support-{stamp}"
    written = write_archive(out, top, index, members)
    checks = [
        Check(
            outcome.name,
            _STATUS.get(outcome.status, Status.WARN),
            f"{len(outcome.members)} file(s) in {outcome.seconds:.1f} s"
            + (f"; {outcome.status}: {outcome.error}" if outcome.error else ""),
            "" if outcome.status in ("ok", "skipped") else "the archive says what it got; send it anyway",
            "collectors",
        )
        for outcome in outcomes
    ]
    size = written.stat().st_size
    checks.append(
        Check(
            "archive",
            Status.PASS,
            f"{written} ({size / 2**20:.1f} MiB, mode 0600) in {time.monotonic() - started:.1f} s; "
            f"masked: {', '.join(f'{count} {name}' for name, count in sorted(redactor.counts.items())) or 'nothing'}",
            group="support bundle",
        )
    )
    data = {"archive": str(written), "bytes": size, "index": index}
    return Report("support-bundle", tuple(checks), data, title=f"Support bundle written to {written}")


def analyze(args: argparse.Namespace) -> Report:
    from greenzone.support.analyze import analyze_archive
    from greenzone.support.archive import read_archive

    index, members = read_archive(Path(args.file))
    return analyze_archive(index, members, Path(args.file).name)

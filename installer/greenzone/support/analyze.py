"""The vendor's reading of a support bundle, offline (pure: archive members in, results out).

Health's own verdicts (`health.run.judge`, with the known signatures it carries) run on the views
the bundle recorded at the site, against the answers and bundle manifest it recorded, at the moment
it was made: the vendor reads what `greenzone health` said there, with the same remedies. What health
does not read (the clock's synchronisation, the host when health could not run) is judged here from
the host collector's files, and collectors that failed are named so that a gap is never read as
"nothing wrong".
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from greenzone.results import Check, Report, Status

GROUP = "support bundle"


def _json(members: Mapping[str, bytes], name: str) -> Any:
    try:
        return json.loads(members[name]) if name in members else None
    except ValueError:
        return None


def analyze_archive(index: Any, members: Mapping[str, bytes], source: str) -> Report:
    if not isinstance(index, Mapping):
        from greenzone.errors import InputError

        raise InputError(f"{source}: index.json is not an object: not a greenzone support bundle", hint="copy it again")
    created = _moment(index.get("created_at"))
    checks: list[Check] = [*_collector_gaps(index)]
    targets = _targets(members, str(index.get("host") or ""))
    views = _views(members)
    if targets is None or views is None:
        why = "installed answers" if targets is None else "health views (the health collector did not finish)"
        checks.append(
            Check(
                "health verdicts",
                Status.SKIP,
                f"the bundle holds no {why}: only the host's files are judged",
                "make the bundle on the appliance after an install, with a --budget that lets health run",
                GROUP,
            )
        )
        from greenzone.health.host_checks import judge_host

        host = _host_view(members)
        checks += judge_host(host) if host is not None else []
    else:
        from greenzone.health.run import LAYERS, judge

        if views.host is None and "host" not in views.missing:
            views = dataclasses.replace(views, host=_host_view(members))
            if views.host is not None:
                targets = dataclasses.replace(targets, local_node=True)
        recorded = {
            "host": True,
            "cluster": views.cluster is not None,
            "registry": views.registry is not None,
            "inference": views.inference is not None,
            "green zone": views.cluster is not None,
        }
        layers = [name for name in LAYERS if recorded[name] or name in views.missing]
        try:
            checks += judge(views, targets, layers, created)
        except (TypeError, KeyError, ValueError, AttributeError) as error:  # damaged, not a bug here
            checks.append(
                Check(
                    "health verdicts",
                    Status.WARN,
                    f"the recorded health views are damaged ({type(error).__name__}): not judged",
                    "ask the site for a new bundle",
                    GROUP,
                )
            )
    checks += _clock(members)
    checks += _other_nodes(members)
    data = {
        "source": source,
        "created_at": index.get("created_at"),
        "greenzone": index.get("greenzone"),
        "collectors": {item.get("name"): item.get("status") for item in index.get("collectors") or []},
    }
    return Report("support-bundle analyze", tuple(checks), data, title=f"Analysis of {source}", grouped=True)


def _moment(text: Any) -> datetime.datetime:
    try:
        moment = datetime.datetime.fromisoformat(str(text))
    except ValueError:
        return datetime.datetime.now(datetime.UTC)
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _collector_gaps(index: Mapping[str, Any]) -> list[Check]:
    gaps = []
    for item in index.get("collectors") or []:
        if item.get("status") in ("error", "timed out"):
            gaps.append(
                Check(
                    f"collector {item.get('name')}",
                    Status.WARN,
                    f"{item.get('status')}: {item.get('error')}; its part of the picture is missing or partial",
                    "ask the site for a new bundle with a longer --budget, or for the command the error names",
                    GROUP,
                )
            )
    return gaps


def _targets(members: Mapping[str, bytes], host: str) -> Any:
    from greenzone.answers.validate import validate_text
    from greenzone.bundle.manifest import parse_manifest
    from greenzone.errors import GreenzoneError
    from greenzone.health.targets import health_targets
    from greenzone.statedir import StateDir

    if "greenzone/answers.yaml" not in members:
        return None
    validation = validate_text(members["greenzone/answers.yaml"].decode("utf-8", "replace"), "answers.yaml")
    if validation.answers is None:
        return None
    images: list[tuple[str, str]] = []
    if "greenzone/bundle.yaml" in members:
        try:
            manifest = parse_manifest(members["greenzone/bundle.yaml"].decode("utf-8", "replace"), "bundle.yaml")
            images = [(image.ref, image.digest) for image in manifest.images]
        except (ValueError, GreenzoneError):
            pass
    # The site's paths are only names here: nothing is read from them.
    return health_targets(validation.answers, StateDir(Path("/nonexistent/site-state")), images, {}, hostname=host)


def _views(members: Mapping[str, bytes]) -> Any:
    from greenzone.health.recorded import views_from_json

    recorded = _json(members, "health/views.json")
    if not isinstance(recorded, dict):
        return None
    try:
        return views_from_json(recorded)
    except (ValueError, TypeError, KeyError):
        return None


def _host_view(members: Mapping[str, bytes]) -> Any:
    """The host as the host collector saw it, for a bundle whose health run had no local node."""

    facts = _json(members, "host/facts.json")
    if not isinstance(facts, dict) or not isinstance(facts.get("nvml"), dict):
        return None
    kernel = members.get("host/kernel-nvidia.txt")
    disks = _json(members, "host/disks.json")
    try:
        return _host(facts, kernel, disks if isinstance(disks, list) else [])
    except (TypeError, KeyError, ValueError):  # a damaged member: the host is not judged, the rest is
        return None


def _host(facts: dict[str, Any], kernel: bytes | None, disks: list[Any]) -> Any:
    from greenzone.health.observed import HostView
    from greenzone.health.recorded import build
    from greenzone.health.xid import parse_kernel_log
    from greenzone.preflight.facts_model import DiskFacts, NvmlFacts

    return HostView(
        nvml=build(NvmlFacts, facts["nvml"]),
        pci_devices=tuple((facts.get("host") or {}).get("nvidia_pci_devices") or ()),
        xids=parse_kernel_log(kernel.decode("utf-8", "replace").splitlines()) if kernel is not None else None,
        xid_error="" if kernel is not None else "the bundle holds no kernel log",
        disks=tuple(
            DiskFacts(disk["purpose"], disk["path"], disk["measured_at"], disk["free_bytes"], disk["total_bytes"])
            for disk in disks
            if isinstance(disk, dict)
        ),
    )


def _clock(members: Mapping[str, bytes]) -> list[Check]:
    clock = _json(members, "host/clock.json")
    if not isinstance(clock, dict):
        return []
    shown = str(clock.get("timedatectl") or "")
    if "NTPSynchronized=no" in shown:
        return [
            Check(
                "clock synchronised",
                Status.WARN,
                "the appliance's clock is not synchronised (timedatectl: NTPSynchronized=no)",
                "point chrony or systemd-timesyncd at the site's time server; certificates and tokens "
                "fail when clocks drift",
                "host",
            )
        ]
    if "NTPSynchronized=yes" in shown:
        return [Check("clock synchronised", Status.PASS, "NTPSynchronized=yes", group="host")]
    return []


def _other_nodes(members: Mapping[str, bytes]) -> list[Check]:
    """Each other node's Xid reports, from what the nodes collector read over SSH."""
    from greenzone.health.host_checks import xid_check
    from greenzone.health.xid import parse_kernel_log

    found = []
    for name in sorted(members):
        parts = name.split("/")
        if len(parts) == 3 and parts[0] == "nodes" and parts[2] == "kernel-nvidia.txt":
            lines = members[name].decode("utf-8", "replace").splitlines()
            found.append(xid_check(parse_kernel_log(lines), name=f"Xid errors on {parts[1]}"))
    return found

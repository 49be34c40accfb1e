"""A health report in the Prometheus text format, for node-exporter's textfile collector (pure).

One gauge per check (0 pass, 1 warn, 2 fail; skipped checks are left out so an alert on `> 0` means
something), the overall status, per-layer durations, inference latency per model, and the time of
the run, so that an alert can also fire when health stops running (`time() - ..._timestamp > 600`).
"""

from __future__ import annotations

from collections.abc import Mapping

from greenzone.results import Report, Status

PREFIX = "greenzone_health"
_VALUE = {Status.PASS: 0, Status.WARN: 1, Status.FAIL: 2}


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _family(lines: list[str], name: str, help_text: str, samples: list[tuple[Mapping[str, str], float]]) -> None:
    lines.append(f"# HELP {PREFIX}_{name} {help_text}")
    lines.append(f"# TYPE {PREFIX}_{name} gauge")
    for labels, value in samples:
        text = ",".join(f'{key}="{_label(item)}"' for key, item in labels.items())
        lines.append(f"{PREFIX}_{name}{{{text}}} {value:g}" if text else f"{PREFIX}_{name} {value:g}")


def prometheus_text(
    report: Report,
    *,
    finished_at: float,
    seconds: float,
    layer_seconds: Mapping[str, float],
    latencies: Mapping[tuple[str, str], float],
) -> str:
    lines: list[str] = []
    _family(
        lines,
        "check_status",
        "Status of one health check: 0 pass, 1 warn, 2 fail.",
        [
            ({"layer": check.group, "check": check.name}, _VALUE[check.status])
            for check in report.checks
            if check.status != Status.SKIP
        ],
    )
    _family(
        lines, "status", "Worst status of the last health run: 0 pass, 1 warn, 2 fail.", [({}, _VALUE[report.status])]
    )
    _family(
        lines,
        "checks",
        "Checks of the last health run by status.",
        [({"status": status}, count) for status, count in report.counts().items()],
    )
    _family(
        lines,
        "layer_duration_seconds",
        "Time each layer's readers took in the last run.",
        [({"layer": layer}, value) for layer, value in sorted(layer_seconds.items())],
    )
    _family(
        lines,
        "inference_latency_seconds",
        "Time to a one-token answer per model and API in the last run.",
        [({"model": model, "api": api}, value) for (model, api), value in sorted(latencies.items())],
    )
    _family(lines, "duration_seconds", "Wall time of the last health run.", [({}, seconds)])
    _family(lines, "last_run_timestamp_seconds", "When the last health run finished (Unix time).", [({}, finished_at)])
    return "\n".join(lines) + "\n"

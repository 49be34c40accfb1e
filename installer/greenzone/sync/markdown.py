"""A parity report as Markdown, for a ticket or a customer hand-over (pure).

The same `Report` the table and `--json` show, so the three cannot disagree; Markdown only adds the
sources of both sides and the full list of differences the table shortens.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from greenzone.results import Report

_MARK = {"pass": "PASS", "warn": "WARN", "fail": "FAIL", "skip": "skip"}


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _table(header: list[str], rows: Iterable[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(cell) for cell in row) + " |" for row in rows]
    return lines


def parity_markdown(report: Report, *, generated: str) -> str:
    data: dict[str, Any] = dict(report.data)
    counts = report.counts()
    lines = [
        f"# {report.title or 'Parity report'}",
        "",
        f"- Verdict: **{_MARK[report.status.value]}** ({counts['pass']} pass, {counts['warn']} warn, "
        f"{counts['fail']} fail, {counts['skip']} skipped)",
        f"- On-prem: {data.get('on_prem', '?')}",
        f"- Cloud: {data.get('cloud', '?')}",
        f"- Generated: {generated}",
        "",
    ]
    groups: dict[str, list[Any]] = {}
    for check in report.checks:
        groups.setdefault(check.group or "checks", []).append(check)
    for group, checks in groups.items():
        lines += [f"## {group.capitalize()}", ""]
        lines += _table(
            ["Check", "Status", "Detail", "Remedy"],
            ([c.name, _MARK[c.status.value], c.detail, c.remedy] for c in checks),
        )
        lines.append("")
    differences = []
    for release, facts in sorted((data.get("releases") or {}).items()):
        for row in facts.get("image_differences", []):
            differences.append(
                [release, "image", row["container"], f"{row['problem']} {row['on_prem']} {row['cloud']}"]
            )
        for row in facts.get("value_differences", []):
            differences.append([release, "value", row["key"], f"on-prem {row['on_prem']}, cloud {row['cloud']}"])
    if differences:
        lines += ["## Every difference", ""]
        lines += _table(["Release", "Kind", "Where", "What"], differences)
        lines.append("")
    latency = data.get("latency") or {}
    if latency:
        lines += ["## Probe latency", ""]
        lines += _table(
            ["Model", "Side", "p50 ms", "p95 ms", "max ms"],
            (
                [model, side, f"{figures['p50_ms']:.0f}", f"{figures['p95_ms']:.0f}", f"{figures['max_ms']:.0f}"]
                for model, sides in sorted(latency.items())
                for side, figures in sides.items()
            ),
        )
        lines.append("")
    return "\n".join(lines)

"""The one table renderer and the one JSON renderer for `Report`s, plus error printing."""

from __future__ import annotations

import json
import sys
from typing import IO, Any

from rich.console import Console, Group
from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from greenzone.errors import GreenzoneError
from greenzone.results import Report, Status

_STYLE = {Status.PASS: "green", Status.WARN: "yellow", Status.FAIL: "bold red", Status.SKIP: "dim"}
_LABEL = {Status.PASS: "PASS", Status.WARN: "WARN", Status.FAIL: "FAIL", Status.SKIP: "SKIP"}


def console(stream: IO[str] | None = None) -> Console:
    """Rich honours NO_COLOR and non-terminals itself; width stays sane when piped."""
    return Console(file=stream or sys.stdout, highlight=False, soft_wrap=False)


def checks_table(report: Report, *, title: str | None = None) -> Table:
    table = Table(
        title=title if title is not None else report.title or None, title_justify="left", expand=False
    )
    table.add_column("status", no_wrap=True)
    table.add_column("check", overflow="fold")
    table.add_column("detail", overflow="fold", ratio=3)
    table.add_column("remedy", overflow="fold", ratio=2)
    for check in report.checks:
        name = check.name if not check.location else f"{check.name}\n{check.location}"
        table.add_row(
            Text(_LABEL[check.status], style=_STYLE[check.status]), name, check.detail, check.remedy
        )
    return table


def summary_line(report: Report) -> Text:
    counts = report.counts()
    text = Text(f"{report.command}: ")
    text.append(_LABEL[report.status], style=_STYLE[report.status])
    parts = [f"{counts[s.value]} {s.value}" for s in Status if counts[s.value]]
    text.append(f" ({', '.join(parts) or 'no checks'}); exit code {int(report.exit_code)}")
    return text


def located_list(report: Report) -> Group:
    """Checks about places in files, one block each, `file:line:col` first so editors can jump there."""
    blocks: list[Any] = []
    for check in report.checks:
        head = Text()
        head.append(f"{_LABEL[check.status]:<5}", style=_STYLE[check.status])
        head.append(f" {check.location or check.name}")
        if check.location and check.name != check.location:
            head.append(f"  {check.name}", style="bold")
        blocks.append(head)
        if check.detail:
            blocks.append(Padding(Text(check.detail), (0, 0, 0, 6), expand=False))
        if check.remedy:
            blocks.append(
                Padding(Text("fix: ", style="bold") + Text(check.remedy), (0, 0, 0, 6), expand=False)
            )
    return Group(*blocks)


def print_report(report: Report, out: Console, *, extra: list[Any] | None = None) -> None:
    for renderable in extra or []:
        out.print(renderable)
    if report.checks and all(check.location for check in report.checks):
        out.print(located_list(report))
    elif report.checks:
        out.print(checks_table(report))
    out.print(summary_line(report))


def report_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False, default=str)


def print_error(error: GreenzoneError, stream: IO[str] | None = None) -> None:
    out = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True)
    out.print(Text("error: ", style="bold red") + Text(error.title))
    for detail in error.details:
        out.print(Text(detail))
    if error.hint:
        out.print(Text("hint: ", style="bold") + Text(error.hint))

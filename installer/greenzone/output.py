"""The one table renderer and the one JSON renderer for `Report`s, plus error printing."""

from __future__ import annotations

import dataclasses
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
    table = Table(title=title if title is not None else report.title or None, title_justify="left", expand=False)
    table.add_column("status", no_wrap=True)
    table.add_column("check", overflow="fold")
    table.add_column("detail", overflow="fold", ratio=3)
    table.add_column("remedy", overflow="fold", ratio=2)
    for check in report.checks:
        name = check.name if not check.location else f"{check.name}\n{check.location}"
        table.add_row(Text(_LABEL[check.status], style=_STYLE[check.status]), name, check.detail, check.remedy)
    return table


def summary_line(report: Report) -> Text:
    text = Text(f"{report.command}: ")
    text.append(_LABEL[report.status], style=_STYLE[report.status])
    text.append(f" ({report.tally() or 'no checks'}); exit code {int(report.exit_code)}")
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
            blocks.append(Padding(Text("fix: ", style="bold") + Text(check.remedy), (0, 0, 0, 6), expand=False))
    return Group(*blocks)


def gpu_table(report: Report) -> Table | None:
    """Preflight and health carry NVML facts in `data.facts.nvml`; GPUs get a table of their own."""
    nvml = report.data.get("facts", {}).get("nvml") if isinstance(report.data.get("facts"), dict) else None
    if not nvml or not nvml.get("gpus"):
        return None
    table = Table(
        title=f"GPUs (driver {nvml.get('driver_version')}, CUDA {nvml.get('cuda_driver_version')})",
        title_justify="left",
    )
    for column in ("#", "name", "memory", "temp", "MIG", "ECC", "power", "bus id"):
        table.add_column(column, overflow="fold")

    def show(value: Any, unit: str = "") -> str:
        return "n/a" if value is None else f"{value}{unit}"

    for gpu in nvml["gpus"]:
        if gpu.get("lost"):
            table.add_row(str(gpu["index"]), show(gpu.get("name")), Text("LOST", style="bold red"), "", "", "", "", "")
            continue
        total, used = gpu.get("memory_total"), gpu.get("memory_used")
        memory = "n/a" if total is None else f"{(used or 0) / 2**30:.1f}/{total / 2**30:.1f} GiB"
        mig = "n/a" if gpu.get("mig_current") is None else ("on" if gpu["mig_current"] else "off")
        ecc = "n/a" if gpu.get("ecc_current") is None else ("on" if gpu["ecc_current"] else "off")
        if gpu.get("ecc_uncorrected_volatile"):
            ecc += f", {gpu['ecc_uncorrected_volatile']} errors"
        table.add_row(
            str(gpu["index"]),
            show(gpu.get("name")),
            memory,
            show(gpu.get("temperature_c"), " °C"),
            mig,
            ecc,
            show(gpu.get("power_limit_w"), " W"),
            show(gpu.get("pci_bus_id")),
        )
    return table


def report_renderables(report: Report, *, extra: list[Any] | None = None) -> list[Any]:
    """What a report shows, in order; `print_report` prints them and `health --watch` redraws them."""
    gpus = gpu_table(report)
    shown: list[Any] = [*(extra or []), *([gpus] if gpus else [])]
    if report.checks and all(check.location for check in report.checks):
        shown.append(located_list(report))
    elif report.grouped:
        for group in dict.fromkeys(check.group for check in report.checks):
            part = dataclasses.replace(report, checks=tuple(check for check in report.checks if check.group == group))
            shown.append(checks_table(part, title=group or None))
    elif report.checks:
        shown.append(checks_table(report))
    shown.append(summary_line(report))
    return shown


def print_report(report: Report, out: Console, *, extra: list[Any] | None = None) -> None:
    for renderable in report_renderables(report, extra=extra):
        out.print(renderable)


def report_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2, sort_keys=False, default=str)


def print_error(error: GreenzoneError, stream: IO[str] | None = None) -> None:
    out = Console(file=stream or sys.stderr, highlight=False, soft_wrap=True)
    out.print(Text("error: ", style="bold red") + Text(error.title))
    for detail in error.details:
        out.print(Text(detail))
    if error.hint:
        out.print(Text("hint: ", style="bold") + Text(error.hint))

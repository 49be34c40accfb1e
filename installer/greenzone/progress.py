"""Progress bars for long steps, on stderr so that `--json` output on stdout stays clean."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)


@dataclass(frozen=True)
class Meter:
    """`advance(n_bytes)` from any thread (rich's Progress is thread-safe); `start(total)` once it is known."""

    advance: Callable[[int], None]
    start: Callable[[int], None]


@contextmanager
def byte_progress(description: str, total: int | None = None) -> Iterator[Meter]:
    console = Console(file=sys.stderr)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=total)
        yield Meter(
            advance=lambda n: progress.advance(task, n),
            start=lambda n: progress.update(task, total=n),
        )

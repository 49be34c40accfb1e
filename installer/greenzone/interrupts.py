"""Handlers for the signals that end a run (Ctrl-C, SIGTERM, SIGHUP), installed for a block and
restored after it; a signal the caller ignores (`nohup`) stays ignored."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

ENDING = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

Handler = Callable[[int, FrameType | None], Any]


@contextlib.contextmanager
def handling(handler: Handler, signals: tuple[signal.Signals, ...] = ENDING) -> Iterator[None]:
    previous = {sig: signal.getsignal(sig) for sig in signals}
    for sig, old in previous.items():
        if old is not signal.SIG_IGN:
            signal.signal(sig, handler)
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)

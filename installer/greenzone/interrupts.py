"""Handlers for the signals that end a run (Ctrl-C, SIGTERM, SIGHUP), installed for a block and
restored after it; a signal the caller ignores (`nohup`) stays ignored."""

from __future__ import annotations

import contextlib
import signal
import threading
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


_shield = threading.local()


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """An ending signal that lands inside the block is raised when the block ends, not in it.

    Meant for the few statements between creating something on disk and recording it for cleanup
    (`mkstemp` and the name's bookkeeping): an interrupt between the two would leave a temporary
    nothing knows to remove. The signal handlers run in the main thread, so the shield is per
    thread and a worker's deferred block never holds back the main thread's interrupt."""
    depth = getattr(_shield, "depth", 0)
    _shield.depth = depth + 1
    try:
        yield
    finally:
        _shield.depth = depth
        pending: BaseException | None = getattr(_shield, "pending", None)
        if depth == 0 and pending is not None:
            _shield.pending = None
            raise pending


def defer(interrupt: BaseException) -> bool:
    """For a handler that raises: True when `interrupt` was kept for the end of a deferred block."""
    if getattr(_shield, "depth", 0):
        _shield.pending = interrupt
        return True
    return False

"""Work spread over threads that still stops promptly on Ctrl-C or SIGTERM.

Python delivers the interrupt to the main thread only; a thread pool's `with` block then waits for
every running task (a 20 GiB layer upload, the hash of a model file) before the command may exit.
`map_all` tells running tasks to stop (`STOP`, checked by `Stoppable` readers between blocks) and
drops the ones not started, so an interrupted command ends within one block's time.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import IO, TypeVar

T = TypeVar("T")
R = TypeVar("R")

STOP = threading.Event()
"""Set once the main thread is interrupted; the process is ending, so it is never cleared."""


class Stopped(Exception):
    """Raised in a worker thread when the command is being interrupted."""


def map_all(work: Callable[[T], R], items: Iterable[T], jobs: int) -> list[R]:
    """`[work(item) for item in items]` on `jobs` threads, in order; an interrupt stops them all."""
    pool = ThreadPoolExecutor(max_workers=max(1, jobs))
    try:
        results = list(pool.map(work, items))
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM/SIGHUP as `cli` raises them: the process is ending
        STOP.set()
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    except BaseException:  # one task failed: the others not started are not needed
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown()
    return results


class Stoppable:
    """A file read in blocks (an upload body, a file being hashed) that gives up once STOP is set."""

    def __init__(self, handle: IO[bytes]) -> None:
        self._handle = handle

    def read(self, size: int = -1) -> bytes:
        if STOP.is_set():
            raise Stopped("interrupted")
        return self._handle.read(size)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        if STOP.is_set():
            raise Stopped("interrupted")
        return self._handle.readinto(buffer)  # type: ignore[attr-defined,no-any-return]

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._handle.seek(offset, whence)

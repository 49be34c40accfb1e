"""One command at a time changes an appliance.

`install`, `deploy`, `upgrade` (and `--finalize`), `rollback`, `node add/remove`, `reset` and
`departments rotate` each read the state directory, run playbooks and write records back; two of
them at once (a second terminal, a colleague on another console, a cron job) would interleave
phases and leave records that describe neither. Each takes an advisory lock on `greenzone.lock` in
the state directory for its whole run. flock(2) is released by the kernel when the process ends,
however it ends, so a killed command never leaves a stale lock behind; the file only says who holds
it, for the message the second command prints. Read-only commands (health, status, values,
preflight, bundle tools) never wait for it. The file holds no state, so `reset` leaves it where it is.
"""

from __future__ import annotations

import datetime
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from greenzone.errors import EnvironmentProblem
from greenzone.statedir import StateDir

LOCK_NAME = "greenzone.lock"


@contextmanager
def changing(state: StateDir, command: str) -> Iterator[None]:
    """Holds the appliance's lock while the block runs; refuses at once when another command has it."""
    state.create()
    path = state.root / LOCK_NAME
    # Not inherited by the playbooks' processes (PEP 446): only this process holds the lock.
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 1024, 0).decode("utf-8", "replace").strip() or "another greenzone command"
            raise EnvironmentProblem(
                f"{holder} is changing this appliance ({state}); nothing was changed",
                hint="wait for it to finish and run this again; `greenzone status` shows what it did",
            ) from None
        since = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"`greenzone {command}` (process {os.getpid()}, since {since})\n".encode(), 0)
        yield
    finally:
        os.close(fd)

"""One command at a time changes an appliance.

`install`, `deploy`, `upgrade` (and `--finalize`), `rollback`, `node add/remove`, `reset` and
`departments rotate` each read the state directory, run playbooks and write records back; two of
them at once (a second terminal, a colleague on another console, a cron job) would interleave
phases and leave records that describe neither. Each takes an advisory lock on `greenzone.lock` in
the state directory itself for its whole run (flock(2) on the directory), which the kernel releases
when the process ends, however it ends: a killed command never leaves a stale lock behind, and
nothing new appears in the state directory, so `--check` leaves it as it was. Who holds the lock is
written to `logs/greenzone.lock`, for the message the second command prints. Read-only commands
(health, status, values, preflight, bundle tools) never wait for it.
"""

from __future__ import annotations

import datetime
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from greenzone.atomic import write_text_atomic
from greenzone.errors import EnvironmentProblem
from greenzone.statedir import StateDir

HOLDER_NAME = "greenzone.lock"
"""In the state directory's `logs/`: which command holds the lock, and since when."""


@contextmanager
def changing(state: StateDir, command: str) -> Iterator[None]:
    """Holds the appliance's lock while the block runs; refuses at once when another command has it."""
    # Created private when missing; an existing directory keeps its mode (a mistaken --state-dir ~
    # must not become 0700 for taking a lock).
    state.root.mkdir(parents=True, exist_ok=True, mode=0o700)
    holder = state.root / "logs" / HOLDER_NAME
    # Not inherited by the playbooks' processes (PEP 446): only this process holds the lock.
    fd = os.open(state.root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                who = holder.read_text(encoding="utf-8", errors="replace").strip()
            except OSError:
                who = ""
            raise EnvironmentProblem(
                f"{who or 'another greenzone command'} is changing this appliance ({state}); nothing was changed",
                hint="wait for it to finish and run this again; `greenzone status` shows what it did",
            ) from None
        since = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        try:
            holder.parent.mkdir(parents=True, exist_ok=True)
            write_text_atomic(holder, f"`greenzone {command}` (process {os.getpid()}, since {since})\n", 0o600)
        except OSError:
            pass  # the lock holds without its note; the second command then names no one
        yield
    finally:
        os.close(fd)

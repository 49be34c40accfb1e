"""Fault injection any test can use: a peer that accepts and never answers, a signal at a random point
of a running command, a read-only filesystem and a user without permission to write.

These are the faults a site meets (a wedged registry, a Ctrl-C, a write-protected USB stick, a path
owned by root) made real rather than mocked: the kernel refuses the write, the socket really stays
silent, the signal really arrives while the command is mid-way.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support import loopback


@contextlib.contextmanager
def silent_peer() -> Iterator[tuple[str, int]]:
    """A TCP listener on 127.0.0.1 that accepts every connection and never sends a byte.

    Yields (host, port). Connections are held open (not closed) until the context ends, so a
    client without a read timeout waits forever, which is the fault under test."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    server.settimeout(0.2)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except (TimeoutError, OSError):
                continue
            held.append(conn)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield "127.0.0.1", server.getsockname()[1]
    finally:
        stop.set()
        thread.join(timeout=2)
        for conn in held:
            conn.close()
        server.close()


@dataclass(frozen=True)
class Interrupted:
    """How a command ended after a signal: exit code, output, and when the signal was sent."""

    returncode: int
    stdout: str
    stderr: str
    after: float
    signalled: bool
    survivors: list[int]
    """PIDs of the command's process group still alive after it exited: children it left running."""


def interrupt_at(
    command: Sequence[str],
    *,
    after: float,
    sig: int = signal.SIGINT,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> Interrupted:
    """Run `command`, send `sig` to it (not its group: the shell-less case of `kill PID`) `after`
    seconds in, and wait for it to end. `signalled` is False when it had ended before the signal."""
    process = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
        start_new_session=True,
    )
    signalled = False
    try:
        try:
            process.wait(timeout=after)
        except subprocess.TimeoutExpired:
            process.send_signal(sig)
            signalled = True
        out, err = process.communicate(timeout=timeout)
        survivors = group_members(process.pid)
    finally:
        if process.poll() is None or group_members(process.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    return Interrupted(process.returncode, out, err, after, signalled, survivors)


def group_members(pgid: int) -> list[int]:
    """Live processes (not zombies) whose process group is `pgid`."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(stat.parent.name))
    return members


def random_delays(seed: int, count: int, longest: float) -> list[float]:
    """Reproducible random moments in (0, longest) at which to interrupt a command."""
    chance = random.Random(seed)
    return [round(chance.uniform(0.05, longest), 3) for _ in range(count)]


@contextlib.contextmanager
def read_only(directory: Path) -> Iterator[Path]:
    """`directory` bind-mounted read-only over itself: writes fail with EROFS, as on a locked USB
    stick. Needs root (CI and this machine run as root); unmounted on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "--bind", str(directory), str(directory)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(directory)], check=True)
        yield directory
    finally:
        for _ in range(20):
            if subprocess.run(["umount", str(directory)], check=False).returncode == 0:
                break
            time.sleep(0.1)


def without_override(command: Sequence[str]) -> list[str]:
    """`command` run as root without CAP_DAC_OVERRIDE (and its relatives), so permission bits bind it:
    a 0555 directory refuses its writes with EACCES, as it would for an ordinary user."""
    setpriv = shutil.which("setpriv")
    assert setpriv, "setpriv (util-linux) is needed to drop a capability"
    dropped = "-dac_override,-dac_read_search,-fowner"
    return [setpriv, f"--bounding-set={dropped}", f"--inh-caps={dropped}", *command]


def process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


@contextlib.contextmanager
def stalling_registry() -> Iterator[str]:
    """An HTTP "registry" that answers every HEAD with 404 (nothing stored) and never answers
    anything else: a client decides to upload, then hangs mid-conversation, as with a registry whose
    storage backend froze. Yields its base URL."""
    release = threading.Event()

    class Handler(loopback.Quiet):
        def do_HEAD(self) -> None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _stall(self) -> None:
            release.wait(300)

        do_GET = do_POST = do_PUT = do_PATCH = _stall

    with loopback.serving(Handler) as (url, _):
        try:
            yield url
        finally:
            release.set()  # before the server closes: no handler thread stays parked

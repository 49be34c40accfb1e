"""A real terminal for the wizard: tmux on a socket of its own (never the user's default server),
keys sent with send-keys, the screen read back with capture-pane; only what it started is killed."""

from __future__ import annotations

import os
import shlex
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Terminal:
    socket: str
    session: str

    def _tmux(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=False)

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.session).stdout

    def wait_for(self, text: str, timeout: float = 60) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            shown = self.screen()
            if text in shown:
                return shown
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen shows:\n{self.screen()}")

    def keys(self, *names: str) -> None:
        done = self._tmux("send-keys", "-t", self.session, *names)
        assert done.returncode == 0, done.stderr


@contextmanager
def terminal(
    command: Sequence[str], *, cwd: Path, env: Mapping[str, str], exit_file: Path, size: tuple[int, int] = (80, 24)
) -> Iterator[Terminal]:
    """`command` in a fresh tmux server of its own, `size` columns × rows; its exit code lands in `exit_file`."""
    name = f"greenzone-test-{os.getpid()}-{time.monotonic_ns()}"
    # A UTF-8 terminal unless the test says otherwise, whatever locale the test run has; `-u` makes
    # tmux itself draw UTF-8 too.
    env = {"LANG": "C.UTF-8", "LC_ALL": "", "LC_CTYPE": "", "TERM": "xterm-256color", **env}
    assignments = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    shell = (
        f"cd {shlex.quote(str(cwd))} && {assignments} {shlex.join(command)}; echo $? > {shlex.quote(str(exit_file))}"
    )
    started = subprocess.run(
        ["tmux", "-u", "-L", name, "new-session", "-d", "-s", name, "-x", str(size[0]), "-y", str(size[1]), shell],
        capture_output=True,
        text=True,
        check=False,
    )
    assert started.returncode == 0, started.stderr
    try:
        yield Terminal(name, name)
    finally:
        subprocess.run(["tmux", "-L", name, "kill-server"], capture_output=True, check=False)


def wait_for_exit(exit_file: Path, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while not exit_file.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    return exit_file.read_text().strip() if exit_file.exists() else "(still running)"

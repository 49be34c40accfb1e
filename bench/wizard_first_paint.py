"""Benchmark: from `greenzone install` typed in a terminal to the wizard's first paint, vs the
smallest Textual app started the same way (Textual's own floor) and `greenzone --version`.

Runs each in a real tmux terminal (80×24) and polls the screen every 10 ms until the expected text
shows; prints figures side by side and asserts nothing (goal from the install issue: under 1 s).

    .venv/bin/python bench/wizard_first_paint.py [--runs 5]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HELLO = """
from textual.app import App
from textual.widgets import Static

class Hello(App[None]):
    def compose(self):
        yield Static("hello from textual")

Hello().run()
"""


_RUNS = itertools.count()


def first_paint(command: list[str], marker: str, env: dict[str, str]) -> float:
    # A server of its own per run: a just-killed server may still hold the previous run's socket.
    session = f"bench-{os.getpid()}-{next(_RUNS)}"
    exports = " ".join(f"{key}={shlex.quote(value)}" for key, value in env.items())
    started = time.perf_counter()
    subprocess.run(
        [
            "tmux",
            "-L",  # a server of its own, never the user's default one
            session,
            "new-session",
            "-d",
            "-s",
            session,
            "-x",
            "80",
            "-y",
            "24",
            f"{exports} {shlex.join(command)}; sleep 30",
        ],
        check=True,
    )
    try:
        while True:
            shown = subprocess.run(
                ["tmux", "-L", session, "capture-pane", "-p", "-t", session], capture_output=True, text=True
            ).stdout
            if marker in shown:
                return time.perf_counter() - started
            if time.perf_counter() - started > 30:
                raise RuntimeError(f"{marker!r} never showed:\n{shown}")
            time.sleep(0.01)
    finally:
        subprocess.run(["tmux", "-L", session, "kill-server"], capture_output=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as work:
        hello = Path(work) / "hello.py"
        hello.write_text(HELLO)
        env = {"GREENZONE_STATE_DIR": str(Path(work) / "state"), "TERM": "xterm-256color"}
        cases = {
            "greenzone install (wizard)": ([sys.executable, "-m", "greenzone", "install"], "turns this server"),
            "minimal Textual app": ([sys.executable, str(hello)], "hello from textual"),
            "greenzone --version": ([sys.executable, "-m", "greenzone", "--version"], "greenzone "),
        }
        print(f"first paint in tmux 80x24, best and median of {runs} runs")
        for name, (command, marker) in cases.items():
            times = [first_paint(command, marker, env) for _ in range(runs)]
            print(f"  {name:<28} best {min(times):.2f} s   median {statistics.median(times):.2f} s")


if __name__ == "__main__":
    main()

"""One command at a time changes an appliance: the state directory's lock, through the real CLI."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

from greenzone.results import ExitCode
from greenzone.statedir import StateDir
from greenzone.statelock import changing
from tests.support.cli import Run
from tests.test_departments import installed


def test_a_second_changing_command_is_refused_naming_the_first_and_reading_still_works(
    tmp_path: Path, run_cli: Run
) -> None:
    state, _ = installed(tmp_path, keys={"legal": "sk-legal-" + "a" * 40, "hr": "sk-hr-" + "b" * 40})
    before = (state / "credentials.yaml").read_bytes()
    with changing(StateDir(state), "upgrade --bundle /media/usb/b2"):
        refused = run_cli("departments", "rotate", "legal", "--yes")
        assert refused.returncode == ExitCode.ENVIRONMENT, refused.stderr
        assert "`greenzone upgrade --bundle /media/usb/b2` (process" in refused.stderr
        assert "is changing this appliance" in refused.stderr and "nothing was changed" in refused.stderr
        assert (state / "credentials.yaml").read_bytes() == before
        # Reading never waits for the lock.
        assert run_cli("departments", "list", "--json").returncode in (0, 1)
        assert run_cli("status", "--json").returncode in (0, 1, 2)
    # Released with the block: the same command now goes ahead (here, its check).
    assert run_cli("departments", "rotate", "legal", "--check").returncode == 0


def test_a_killed_command_leaves_no_lock_behind(tmp_path: Path, run_cli: Run) -> None:
    state, _ = installed(tmp_path, keys={"legal": "sk-legal-" + "a" * 40, "hr": "sk-hr-" + "b" * 40})
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from pathlib import Path; from greenzone.statedir import StateDir; "
            "from greenzone.statelock import changing\n"
            "with changing(StateDir(Path(sys.argv[1])), 'install'):\n"
            "    print('held', flush=True); time.sleep(600)",
            str(state),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert run_cli("departments", "rotate", "legal", "--check").returncode == ExitCode.ENVIRONMENT
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
    deadline = time.monotonic() + 5
    while run_cli("departments", "rotate", "legal", "--check").returncode != 0:
        assert time.monotonic() < deadline, "the kernel did not release a killed holder's lock"
        time.sleep(0.2)

"""The `greenzone` command as a user meets it: help, exit codes, errors, logs."""

from __future__ import annotations

import stat
from pathlib import Path

from tests.conftest import Run


def test_help_lists_every_command(run_cli: Run) -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("answers",):
        assert command in result.stdout
    sub = run_cli("answers", "--help")
    for action in ("validate", "schema", "example"):
        assert action in sub.stdout


def test_no_command_prints_help_and_fails(run_cli: Run) -> None:
    result = run_cli()
    assert result.returncode == 3 and "usage:" in result.stdout


def test_version(run_cli: Run) -> None:
    result = run_cli("--version")
    assert result.returncode == 0 and result.stdout.startswith("greenzone ")


def test_json_output_of_validate(run_cli: Run, tmp_path: Path) -> None:
    import json

    site = tmp_path / "site.yaml"
    site.write_text("appliance: {name: x}\n")
    result = run_cli("answers", "validate", "--json", str(site))
    envelope = json.loads(result.stdout)
    assert result.returncode == envelope["exit_code"] == 2
    assert {c["name"] for c in envelope["checks"]} == {"network", "bundle"}
    assert all(c["location"].startswith(f"{site}:1:") for c in envelope["checks"])


def test_log_file_is_private_and_written(run_cli: Run, tmp_path: Path) -> None:
    run_cli("answers", "example")
    log = tmp_path / "state" / "logs" / "greenzone.log"
    assert "answers example" in log.read_text()
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    assert stat.S_IMODE(log.parent.stat().st_mode) == 0o700


def test_unwritable_state_dir_does_not_stop_a_command(run_cli: Run, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = run_cli("--state-dir", str(blocker / "state"), "answers", "example")
    assert result.returncode == 0 and "appliance:" in result.stdout

"""The JSON envelope and exit-code rule are a contract with monitoring scripts: pinned here."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from greenzone.output import report_json
from greenzone.results import RESULTS_SCHEMA_VERSION, Check, ExitCode, Report, Status, exit_code


def test_envelope_keys_are_pinned() -> None:
    report = Report(
        "preflight",
        (Check("cpu", Status.PASS, "16 cores"), Check("disk", Status.WARN, "9 GiB", "free space")),
    )
    envelope = json.loads(report_json(report))
    assert list(envelope) == ["schema_version", "command", "status", "exit_code", "counts", "checks", "data"]
    assert envelope["schema_version"] == RESULTS_SCHEMA_VERSION == 1
    assert envelope["status"] == "warn" and envelope["exit_code"] == 1
    assert envelope["counts"] == {"pass": 1, "warn": 1, "fail": 0, "skip": 0}
    assert list(envelope["checks"][0]) == ["name", "status", "detail", "remedy", "group", "location"]


def test_exit_code_rule() -> None:
    assert exit_code([]) == ExitCode.OK
    assert exit_code([Check("a", Status.PASS), Check("b", Status.SKIP)]) == ExitCode.OK
    assert exit_code([Check("a", Status.PASS), Check("b", Status.WARN)]) == ExitCode.WARN
    assert exit_code([Check("a", Status.WARN), Check("b", Status.FAIL), Check("c", Status.PASS)]) == ExitCode.FAIL


@given(st.lists(st.sampled_from(list(Status)), max_size=12))
def test_exit_code_is_the_worst_status(statuses: list[Status]) -> None:
    code = exit_code(Check(str(i), s) for i, s in enumerate(statuses))
    expected = 2 if Status.FAIL in statuses else 1 if Status.WARN in statuses else 0
    assert int(code) == expected

"""Every bad input named by the foundation issue yields a located error with a fix, never a traceback."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from greenzone.answers.files import load_answers
from greenzone.answers.problems import Problem
from greenzone.answers.rules import Context
from greenzone.answers.validate import Validation, validate_text
from tests.support.cli import MINIMAL, Run


def _errors(validation: Validation) -> list[Problem]:
    assert validation.errors, f"expected errors, got {validation.problems}"
    for problem in validation.errors:
        assert problem.position is not None, problem
        assert problem.hint, problem
    return validation.errors


def _only_error(text: str, context: Context | None = None) -> Problem:
    errors = _errors(validate_text(text, "site.yaml", context))
    assert len(errors) == 1, [e.one_line() for e in errors]
    return errors[0]


def test_minimal_document_is_valid() -> None:
    validation = validate_text(MINIMAL, "site.yaml")
    assert validation.ok, [p.one_line() for p in validation.problems]
    assert validation.answers is not None
    assert validation.answers.nodes[0].address == "local"
    assert validation.answers.registry_hostname() == "registry.ai.test.local"


def test_empty_file() -> None:
    problem = _only_error("")
    assert "empty" in problem.message
    assert problem.position is not None and problem.position.line == 1


def test_comment_only_file_counts_as_empty() -> None:
    assert "empty" in _only_error("# nothing here\n").message


def test_not_yaml_points_at_the_line() -> None:
    problem = _only_error("version: 1\nappliance:\n  name: [unclosed\nnetwork: {}\n")
    assert "not valid YAML" in problem.message
    assert problem.position is not None and problem.position.line >= 3


def test_tab_indentation_is_not_yaml() -> None:
    problem = _only_error("appliance:\n\tname: x\n")
    assert "not valid YAML" in problem.message
    assert problem.position is not None and problem.position.line == 2


def test_yaml_list_is_refused() -> None:
    problem = _only_error("- appliance\n- network\n")
    assert "a list" in problem.message and "mapping" in problem.message


def test_several_documents_are_refused_at_the_second_ones_start_with_advice_about_documents() -> None:
    problem = _only_error(MINIMAL + "---\n" + MINIMAL)
    assert "second YAML document" in problem.message
    assert problem.position is not None and problem.position.line == MINIMAL.count("\n") + 1
    assert "---" in problem.hint and "tabs" not in problem.hint


def test_wrong_types_each_located() -> None:
    text = MINIMAL + "inference:\n  replicas: two\n  chat_ui: maybe\ngpu:\n  time_slicing_replicas: [1]\n"
    errors = _errors(validate_text(text, "site.yaml"))
    by_key = {e.key: e for e in errors}
    assert by_key["inference.replicas"].position.line == 10  # type: ignore[union-attr]
    assert "whole number" in by_key["inference.replicas"].message
    assert "'two'" in by_key["inference.replicas"].message
    assert "true or false" in by_key["inference.chat_ui"].message
    assert by_key["gpu.time_slicing_replicas"].position.line == 13  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("value", "message", "hint"),
    [
        ("99", "must be at most 16, got 99", "use a number from 0 to 16"),
        ("-2", "must be at least 0, got -2", "use a number from 0 to 16"),
    ],
)
def test_out_of_range_numbers_are_told_in_words_with_the_range(value: str, message: str, hint: str) -> None:
    """Not pydantic's "Input should be less than or equal to 16": the same words as every other error."""
    error = _only_error(MINIMAL + f"inference:\n  gpus_per_replica: {value}\n")
    assert error.key == "inference.gpus_per_replica" and error.position.line == 10  # type: ignore[union-attr]
    assert error.message == message and error.hint == hint
    assert "Input should" not in error.one_line()


def test_unknown_key_suggests_the_right_one() -> None:
    problem = _only_error(MINIMAL + "inference:\n  enigne: vllm\n")
    assert problem.key == "inference.enigne"
    assert "unknown key" in problem.message
    assert "did you mean `engine`?" in problem.hint
    assert problem.position is not None and (problem.position.line, problem.position.column) == (10, 3)


def test_unknown_top_level_section() -> None:
    problem = _only_error(MINIMAL + "departmnts: []\n")
    assert "did you mean `departments`?" in problem.hint


def test_bad_choice_suggests_the_closest() -> None:
    problem = _only_error(MINIMAL + "inference:\n  engine: olama\n")
    assert "expected one of ollama, vllm" in problem.message
    assert "did you mean `ollama`?" in problem.hint


def test_missing_required_key_names_parent_line_and_example() -> None:
    text = MINIMAL.replace("  hostname: ai.test.local\n", "  pod_cidr: 10.42.0.0/16\n")
    problem = _only_error(text)
    assert problem.key == "network.hostname"
    assert "missing" in problem.message
    assert problem.position is not None and problem.position.line == 4  # the `network:` line
    assert "hostname: ai.st-mary.local" in problem.hint


def test_inline_password_is_refused_without_echoing_it() -> None:
    secret = "Sup3rS3cretHarbor!"
    problem = _only_error(MINIMAL + f"registry:\n  admin_password: {secret}\n")
    assert problem.key == "registry.admin_password"
    assert "inline" in problem.message
    assert "admin_password_file" in problem.hint
    assert secret not in problem.one_line()
    assert secret not in str(problem.to_check())


def test_inline_token_anywhere_is_refused() -> None:
    problem = _only_error(MINIMAL.replace("  path: /nonexistent/bundle\n", "  path: /b\n  join_token: abc\n"))
    assert problem.key == "bundle.join_token"


def test_duplicate_yaml_keys_are_reported_with_both_lines() -> None:
    text = MINIMAL + "inference:\n  engine: ollama\n  engine: vllm\n  gpus_per_replica: 1\n"
    problem = _only_error(text)
    assert "duplicate key `engine`" in problem.message and "line 10" in problem.message
    assert problem.position is not None and problem.position.line == 11


def test_overlapping_cidrs() -> None:
    text = MINIMAL.replace("  hostname: ai.test.local\n", "  hostname: ai.test.local\n  service_cidr: 10.42.128.0/17\n")
    problem = _only_error(text)
    assert problem.key == "network.service_cidr"
    assert "overlaps" in problem.message and "10.42.0.0/16" in problem.message
    assert problem.position is not None and problem.position.line == 6


def test_cidr_with_host_bits_names_the_network() -> None:
    problem = _only_error(
        MINIMAL.replace("  hostname: ai.test.local\n", "  hostname: ai.test.local\n  pod_cidr: 10.42.0.1/16\n")
    )
    assert "host bits" in problem.message and "10.42.0.0/16" in problem.message


def test_node_inside_pod_cidr() -> None:
    text = MINIMAL + "nodes:\n  - address: 192.168.1.1\n  - address: 10.42.3.4\n    role: agent\n"
    problem = _only_error(text)
    assert problem.key == "nodes[1].address" and "inside" in problem.message


def test_vllm_with_zero_gpus() -> None:
    problem = _only_error(
        MINIMAL + "inference:\n  engine: vllm\n  models: [google/gemma-3-4b-it]\n  gpus_per_replica: 0\n"
    )
    assert problem.key == "inference.gpus_per_replica"
    assert "at least one GPU" in problem.message


def test_duplicate_department_names() -> None:
    text = MINIMAL + "departments:\n  - name: legal\n  - name: hr\n  - name: legal\n"
    problem = _only_error(text)
    assert problem.key == "departments[2].name"
    assert "already defined at departments[0]" in problem.message
    assert problem.position is not None and problem.position.line == 12


def test_department_namespace_clash_and_reserved() -> None:
    text = (
        MINIMAL
        + "departments:\n  - name: legal\n  - name: law\n    namespace: legal-dept\n"
        + "  - name: ops\n    namespace: kube-system\n"
    )
    errors = _errors(validate_text(text, "site.yaml"))
    assert {e.key for e in errors} == {"departments[1].namespace", "departments[2].namespace"}


def test_department_quotas_exceed_gpus_present() -> None:
    text = MINIMAL + "departments:\n  - name: legal\n    gpu_quota: 2\n  - name: hr\n    gpu_quota: 1\n"
    problem = _only_error(text, Context(gpus_present=2))
    assert "add up to 3" in problem.message and "only 2" in problem.message
    assert validate_text(text, "site.yaml").ok  # unknown GPU count: no verdict
    sliced = text + "gpu:\n  time_slicing_replicas: 2\n"
    assert validate_text(sliced, "site.yaml", Context(gpus_present=2)).ok


def test_department_quotas_against_expected_count() -> None:
    text = MINIMAL + "gpu:\n  expected_count: 1\ndepartments:\n  - name: legal\n    gpu_quota: 2\n"
    assert "expected (gpu.expected_count)" in _only_error(text).message


def test_model_not_in_bundle() -> None:
    context = Context(bundle_models=frozenset({"gemma3:4b", "llama3.1:8b"}), bundle_source="/b")
    problem = _only_error(MINIMAL + "inference:\n  models: [gemma3:4b, lama3.1:8b]\n", context)
    assert problem.key == "inference.models[1]"
    assert "not in the bundle at /b" in problem.message
    assert "did you mean `llama3.1:8b`?" in problem.hint


BOTH_ENGINES = Context(
    bundle_models=frozenset({"gemma3:4b", "google/gemma-3-4b-it"}),
    bundle_source="/b",
    model_engines={"gemma3:4b": "ollama", "google/gemma-3-4b-it": "vllm"},
)


def test_a_model_the_engine_cannot_serve_is_refused_at_its_line() -> None:
    """An Ollama tag under `engine: vllm` (what the wizard once saved): refused before install."""
    text = MINIMAL + "inference:\n  engine: vllm\n  models: [google/gemma-3-4b-it, gemma3:4b]\n"
    problem = _only_error(text, BOTH_ENGINES)
    assert problem.key == "inference.models[1]" and problem.position is not None
    assert problem.position.line == text.splitlines().index("  models: [google/gemma-3-4b-it, gemma3:4b]") + 1
    assert problem.message == "`gemma3:4b` is in the bundle for Ollama; vLLM cannot serve it"
    assert problem.hint == "vLLM models in the bundle: google/gemma-3-4b-it"


def test_an_engine_the_bundle_has_no_model_for_is_named() -> None:
    context = Context(bundle_models=frozenset({"gemma3:4b"}), model_engines={"gemma3:4b": "ollama"})
    problem = _only_error(MINIMAL + "inference:\n  engine: vllm\n  models: [gemma3:4b]\n", context)
    assert problem.key == "inference.engine"
    assert problem.message == "the bundle holds no model for vLLM"
    assert problem.hint.startswith("choose Ollama, whose models it holds")


def test_even_number_of_servers() -> None:
    text = MINIMAL + "nodes:\n  - address: 192.168.1.3\n  - address: 192.168.1.2\n"
    problem = _only_error(text)
    assert "odd number" in problem.message


def test_local_first_server_of_a_cluster_needs_advertise_ip() -> None:
    text = MINIMAL + "nodes:\n  - address: local\n    name: cp\n  - address: 192.168.1.2\n    role: agent\n"
    problem = _only_error(text)
    assert problem.key == "network.advertise_ip" and "where to join" in problem.message
    fixed = text.replace("  hostname: ai.test.local\n", "  hostname: ai.test.local\n  advertise_ip: 192.168.1.1\n")
    assert validate_text(fixed, "site.yaml").ok


def test_provided_tls_needs_cert_and_key() -> None:
    errors = _errors(validate_text(MINIMAL + "registry:\n  tls:\n    mode: provided\n", "site.yaml"))
    assert {e.key for e in errors} == {"registry.tls.cert_file", "registry.tls.key_file"}


def test_every_structural_problem_is_reported_at_once() -> None:
    text = "version: 2\nappliance:\n  name: Bad Name\nnetwork:\n  hostname: -x-\nbundle: {}\nextra: 1\n"
    keys = {e.key for e in _errors(validate_text(text, "site.yaml"))}
    assert keys >= {
        "version",
        "appliance.name",
        "network.hostname",
        "bundle.path",
        "bundle.public_key",
        "extra",
    }


# --- problems that need the disk ------------------------------------------------------------


def test_missing_password_file_is_an_error_on_the_install_host(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(MINIMAL + "registry:\n  admin_password_file: harbor.pw\n")
    validation = load_answers(site, here=True)
    errors = _errors(validation)
    assert [e.key for e in errors] == ["bundle.path", "bundle.public_key", "registry.admin_password_file"]
    assert str(tmp_path / "harbor.pw") in errors[-1].message  # relative to the answer file
    elsewhere = load_answers(site)
    assert elsewhere.ok and {p.severity for p in elsewhere.problems} == {"note"}


def test_password_file_readable_by_others_warns(tmp_path: Path) -> None:
    pw = tmp_path / "harbor.pw"
    pw.write_text("Harbor12345\n")
    pw.chmod(0o644)
    site = tmp_path / "site.yaml"
    site.write_text(MINIMAL + f"registry:\n  admin_password_file: {pw}\n")
    warnings = [p for p in load_answers(site).problems if p.severity == "warning"]
    assert len(warnings) == 1 and "chmod 600" in warnings[0].hint
    pw.chmod(0o600)
    assert not [p for p in load_answers(site).problems if p.severity == "warning"]


def test_unreadable_file(tmp_path: Path, run_cli: Run) -> None:
    """As root (CI), the CLI is run as `nobody` through setpriv so that the permission check is real."""
    site = tmp_path / "site.yaml"
    site.write_text(MINIMAL)
    site.chmod(0)
    tmp_path.chmod(0o755)
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        assert setpriv, "util-linux setpriv is needed to drop root for this test"
        result = subprocess.run(
            [
                setpriv,
                "--reuid=nobody",
                "--regid=nogroup",
                "--clear-groups",
                sys.executable,
                "-m",
                "greenzone",
                "--state-dir",
                str(tmp_path / "state"),
                "answers",
                "validate",
                str(site),
            ],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "NO_COLOR": "1", "COLUMNS": "200"},
        )
    else:  # pragma: no cover - developers running the suite as themselves
        result = run_cli("answers", "validate", str(site))
    assert result.returncode == 2, result.stderr
    assert "permission denied" in result.stdout
    assert "Traceback" not in result.stderr


def test_unreadable_file_is_a_located_error(tmp_path: Path) -> None:
    """Root reads anything, so unreadability is produced with a directory and with bad bytes."""
    directory = load_answers(tmp_path)
    assert "is a directory" in directory.problems[0].message
    assert directory.problems[0].file == str(tmp_path)
    missing = load_answers(tmp_path / "nope.yaml")
    assert "does not exist" in missing.problems[0].message
    binary = tmp_path / "site.yaml"
    binary.write_bytes(b"version: 1\nappliance:\n  name: \xff\xfe\n")
    problem = load_answers(binary).problems[0]
    assert "not UTF-8" in problem.message and problem.position is not None and problem.position.line == 3


def test_cli_reports_bad_file_without_traceback(run_cli: Run, tmp_path: Path) -> None:
    secret = "Correct-Horse-Battery-9"
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        MINIMAL + f"registry:\n  admin_password: {secret}\ninference:\n  engine: vllm\n  gpus_per_replica: 0\n"
    )
    result = run_cli("answers", "validate", str(bad))
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert f"{bad}:10:3" in result.stdout
    assert secret not in result.stdout + result.stderr
    log = (tmp_path / "state" / "logs" / "greenzone.log").read_text()
    assert secret not in log


def test_cli_missing_file_and_bad_option(run_cli: Run, tmp_path: Path) -> None:
    missing = run_cli("answers", "validate", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "does not exist" in missing.stdout
    bad_option = run_cli("answers", "validate", "--frobnicate", "x.yaml")
    assert bad_option.returncode == 3 and "unrecognized arguments" in bad_option.stderr

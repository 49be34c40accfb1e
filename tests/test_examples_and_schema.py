"""Shipped examples, the generated example and the committed JSON Schema all agree with the model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from greenzone.answers.example import example_yaml
from greenzone.answers.schema import answers_json_schema
from greenzone.answers.validate import validate_text
from tests.support.cli import Run
from tests.support.paths import EXAMPLES, REPO

SCHEMA_FILE = REPO / "installer" / "greenzone" / "schemas" / "answers.schema.json"
ANSWER_EXAMPLES = sorted(EXAMPLES.glob("*.yaml"))


def test_there_are_three_examples() -> None:
    assert {p.name for p in ANSWER_EXAMPLES} == {
        "single-node-ollama.yaml",
        "multi-node-vllm.yaml",
        "vagrant.yaml",
    }


@pytest.mark.parametrize("path", ANSWER_EXAMPLES, ids=lambda p: p.name)
def test_example_validates_without_warnings(path: Path) -> None:
    validation = validate_text(path.read_text(), str(path))
    assert validation.ok
    assert not validation.problems, [p.one_line() for p in validation.problems]


def test_cli_validates_all_examples(run_cli: Run) -> None:
    result = run_cli("answers", "validate", *map(str, ANSWER_EXAMPLES))
    assert result.returncode == 0, result.stdout + result.stderr
    assert sum(line.startswith("PASS ") for line in result.stdout.splitlines()) == 3


def test_generated_example_validates_and_is_commented() -> None:
    text = example_yaml()
    validation = validate_text(text, "example.yaml")
    assert validation.ok, [p.one_line() for p in validation.problems]
    assert validation.answers is not None and validation.answers.cloud is None
    assert text.count("\n# ") > 20
    assert "# Engine serving the models" in text


def test_generated_example_cloud_section_is_valid_when_uncommented() -> None:
    lines = example_yaml().splitlines()
    start = lines.index("# cloud:")
    uncommented = [line[2:] if line.startswith("# ") else line for line in lines[start:]]
    text = "\n".join(lines[:start] + uncommented) + "\n"
    validation = validate_text(text, "example.yaml")
    assert validation.ok, [p.one_line() for p in validation.problems]
    assert validation.answers is not None and validation.answers.cloud is not None
    assert validation.answers.cloud.context == "eks-greenzone-test"


def test_committed_schema_matches_the_model() -> None:
    committed = json.loads(SCHEMA_FILE.read_text())
    assert committed == answers_json_schema(), (
        "installer/greenzone/schemas/answers.schema.json is stale: "
        "run `greenzone answers schema > installer/greenzone/schemas/answers.schema.json`"
    )


def test_schema_accepts_examples_and_describes_every_property() -> None:
    schema = answers_json_schema()

    def walk(node: object, where: str) -> None:
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                assert prop.get("description"), f"{where}.{name} has no description"
            for key, value in node.items():
                walk(value, f"{where}.{key}")

    walk(schema, "schema")
    assert schema["additionalProperties"] is False
    assert set(schema["required"]) == {"appliance", "network", "bundle"}
    for path in ANSWER_EXAMPLES:
        assert set(yaml.safe_load(path.read_text())) <= set(schema["properties"])


def test_cli_schema_and_example(run_cli: Run) -> None:
    schema = run_cli("answers", "schema")
    assert schema.returncode == 0 and json.loads(schema.stdout)["title"] == "Answers"
    example = run_cli("answers", "example")
    assert example.returncode == 0 and validate_text(example.stdout, "-").ok


def test_every_example_serves_only_models_the_lock_pins() -> None:
    """An example a site copies must build into a bundle: each of its models is in the lock, for
    the engine the example runs (the generated example included)."""
    from greenzone.bundle.lock import parse_lock

    lock_file = REPO / "airgap" / "bundle.lock.yaml"
    lock = parse_lock(lock_file.read_text(), str(lock_file)).lock
    assert lock is not None
    pinned = {(model.engine, model.name) for model in lock.models}
    texts = {path.name: path.read_text() for path in ANSWER_EXAMPLES} | {"generated": example_yaml()}
    for name, text in texts.items():
        validation = validate_text(text, name)
        assert validation.answers is not None, name
        inference = validation.answers.inference
        assert inference.models, name
        missing = [model for model in inference.models if (inference.engine, model) not in pinned]
        assert not missing, f"{name} serves {missing} with {inference.engine}, which airgap/bundle.lock.yaml lacks"

"""The lock file: schema kept in step with the model, bad pins located at their line, pins filled in place."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from greenzone.bundle.lock import fill_pins, lock_json_schema, parse_lock, unresolved
from tests.support.paths import REPO

SCHEMA = REPO / "installer" / "greenzone" / "schemas" / "bundle-lock.schema.json"
LOCK = REPO / "airgap" / "bundle.lock.yaml"
SHA = "ab" * 32
DIGEST = "sha256:" + "cd" * 32


def test_committed_schema_matches_the_model_and_accepts_the_real_lock() -> None:
    committed = json.loads(SCHEMA.read_text())
    assert committed == lock_json_schema(), (
        "bundle-lock.schema.json is stale: regenerate it from greenzone.bundle.lock.lock_json_schema()"
    )
    jsonschema.validate(yaml.safe_load(LOCK.read_text()), committed)
    assert LOCK.read_text().startswith("# yaml-language-server: $schema=../installer/greenzone/schemas/")


def test_the_real_lock_parses_and_every_unresolved_pin_is_found() -> None:
    validation = parse_lock(LOCK.read_text(), str(LOCK))
    assert validation.ok, [p.one_line() for p in validation.problems]
    assert validation.lock is not None
    pins = unresolved(validation.lock)
    assert {pin.kind for pin in pins} == {"file", "image", "model"}
    refs = [image.ref for image in validation.lock.images]
    assert all(not ref.endswith(":latest") for ref in refs) and any("gpu-operator" in ref for ref in refs)


BASE = f"""\
lock_version: 1
files:
  - {{name: k3s, version: v1, kind: binary, url: https://x/k3s, sha256: {SHA}, dest: bin/k3s}}
images:
  - {{ref: docker.io/ollama/ollama:0.6.5, digest: '{DIGEST}'}}
models:
  - {{name: gemma3:4b, engine: ollama, source: registry.ollama.ai/library/gemma3:4b, digest: '{DIGEST}', vram_bytes: 1}}
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "message"),
    [
        ("ollama/ollama:0.6.5", f"ollama/ollama:0.6.5@{DIGEST}", 5, "carries a digest"),
        ("ollama/ollama:0.6.5", "ollama/ollama:latest", 5, "uses `latest`, which moves"),
        ("ollama/ollama:0.6.5", "ollama", 5, "is not a full image reference"),
        (f"sha256: {SHA}", "sha256: abc", 3, "should match pattern"),
        ("dest: bin/k3s", "dest: ../etc/passwd", 3, "not a relative path inside the bundle"),
        (f", digest: '{DIGEST}', vram", ", vram", 7, "needs `source` and `digest`"),
        ("kind: binary", "kind: binray", 3, "did you mean `binary`"),
        ("lock_version: 1", "lock_version: 1\nmirrors: []", 2, "unknown key `mirrors`"),
    ],
)
def test_bad_pins_are_located_and_explained(old: str, new: str, line: int, message: str) -> None:
    text = BASE.replace(old, new, 1)
    assert text != BASE
    validation = parse_lock(text, "lock.yaml")
    assert not validation.ok
    found = [p for p in validation.problems if message in p.message + p.hint]
    assert found, [p.one_line() for p in validation.problems]
    assert found[0].position is not None and found[0].position.line == line, found[0].one_line()


def test_duplicates_are_refused() -> None:
    text = BASE + f"  - {{name: gemma3:4b, engine: ollama, source: a.io/b/c:1, digest: '{DIGEST}', vram_bytes: 1}}\n"
    validation = parse_lock(text, "lock.yaml")
    assert any("model listed twice: gemma3:4b" in p.message for p in validation.problems)


def test_fill_pins_changes_only_the_unresolved_values() -> None:
    text = (
        "# a comment that must survive\nlock_version: 1\nfiles:\n"
        "  - name: k3s  # the binary\n    version: v1\n    kind: binary\n    url: https://x/k3s\n"
        "    sha256: unresolved  # from sha256sum-amd64.txt\n    dest: bin/k3s\n"
        "images:\n  - {ref: docker.io/ollama/ollama:0.6.5, digest: 'unresolved'}\n"
    )
    validation = parse_lock(text, "lock.yaml")
    assert validation.lock is not None
    values = {pin.path: (SHA if pin.kind == "file" else DIGEST) for pin in unresolved(validation.lock)}
    filled = fill_pins(text, validation.positions, values)
    assert filled == text.replace("sha256: unresolved", f"sha256: {SHA}").replace("'unresolved'", DIGEST)
    again = parse_lock(filled, "lock.yaml")
    assert again.ok and again.lock is not None and unresolved(again.lock) == []


GEMMA = ["config.json", "tokenizer.json", "tokenizer_config.json", "preprocessor_config.json"]


def vllm_lock(files: list[str], architecture: str = "Gemma3ForConditionalGeneration") -> str:
    listed = "".join(f"      - {{url: https://hf.test/m/{name}, sha256: {SHA}, path: {name}}}\n" for name in files)
    return (
        f"{BASE}  - name: google/gemma-3-4b-it\n    engine: vllm\n    architecture: {architecture}\n"
        f"    vram_bytes: 1\n    files:\n{listed}"
    )


@pytest.mark.parametrize(
    ("files", "architecture", "missing"),
    [
        # llm-compressor#1305: Gemma 3 without its image processor's config never becomes ready.
        ([*GEMMA[:3], "model.safetensors"], "Gemma3ForConditionalGeneration", ["preprocessor_config.json"]),
        # Any `...ForConditionalGeneration` is taken as multimodal, known to vLLM's registry or not.
        ([*GEMMA[:3], "model.safetensors"], "FutureVisionForConditionalGeneration", ["preprocessor_config.json"]),
        (["config.json", "tokenizer_config.json", "model.safetensors"], "LlamaForCausalLM", ["tokenizer.json or"]),
        (["tokenizer.json", "tokenizer_config.json", "model.safetensors"], "LlamaForCausalLM", ["config.json"]),
        (["config.json", "tokenizer.model", "tokenizer_config.json"], "LlamaForCausalLM", ["the weights"]),
        (
            [*GEMMA, "model-00001-of-00003.safetensors", "model-00003-of-00003.safetensors"],
            "Gemma3ForConditionalGeneration",
            ["model-00002-of-00003.safetensors (weight shard 2 of 3)", "model.safetensors.index.json"],
        ),
    ],
)
def test_a_vllm_model_missing_what_the_engine_reads_is_refused(
    files: list[str], architecture: str, missing: list[str]
) -> None:
    validation = parse_lock(vllm_lock(files, architecture), "lock.yaml")
    assert not validation.ok
    (problem,) = validation.problems
    assert problem.path == ("models", 1) and problem.position is not None and problem.position.line == 8
    assert problem.message.startswith(f"vLLM cannot start google/gemma-3-4b-it ({architecture}) without:")
    for name in missing:
        assert name in problem.message
    assert "bundle lock --update" in problem.hint


def test_a_complete_vllm_model_passes_and_a_text_model_needs_no_processor() -> None:
    shards = ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors", "model.safetensors.index.json"]
    assert parse_lock(vllm_lock([*GEMMA, *shards]), "lock.yaml").ok
    text_only = ["config.json", "tokenizer.json", "tokenizer_config.json", *shards]
    assert parse_lock(vllm_lock(text_only, "LlamaForCausalLM"), "lock.yaml").ok


def test_a_vllm_model_must_say_its_architecture() -> None:
    text = vllm_lock(GEMMA).replace("    architecture: Gemma3ForConditionalGeneration\n", "")
    (problem,) = parse_lock(text, "lock.yaml").problems
    assert "needs `architecture`" in problem.message
    assert "first entry of `architectures`" in problem.hint


def test_every_vllm_model_of_the_real_lock_has_what_the_engine_reads() -> None:
    """The lock's own vLLM models pass the rule (parsing would refuse them otherwise), and Gemma 3's
    tokenizer and processor extras the issue names are pinned too."""
    validation = parse_lock(LOCK.read_text(), str(LOCK))
    assert validation.lock is not None
    gemma = [model for model in validation.lock.models if model.name.startswith("google/gemma-3")]
    assert len(gemma) == 2
    for model in gemma:
        paths = {item.path for item in model.files}
        assert {"processor_config.json", "tokenizer.model", "special_tokens_map.json", "chat_template.json"} <= paths

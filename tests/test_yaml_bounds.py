"""Every YAML reader is bounded: alias bombs ("billion laughs") of any shape, documents nested past
any sane depth and files far bigger than greenzone ever writes are refused with the place the bound
was crossed, quickly and in little memory, by every command that reads YAML from outside.

The commands run in a subprocess whose address space is capped (1.5 GiB), so an unbounded reader
would die of it (or time out) instead of answering exit 3 with a located message.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from greenzone import yamlpos
from greenzone.bundle.manifest import ManifestError, parse_manifest
from tests.support.cli import MINIMAL


def bomb(fanout: int, depth: int, *, key: str = "lol", indent: str = "") -> str:
    """`depth` levels of anchors, each a list of `fanout` aliases to the level below."""
    lines = [f"{indent}{key}0: &{key}0 [{', '.join(['x'] * fanout)}]"]
    for level in range(1, depth + 1):
        aliases = ", ".join([f"*{key}{level - 1}"] * fanout)
        lines.append(f"{indent}{key}{level}: &{key}{level} [{aliases}]")
    return "\n".join(lines) + "\n"


def _expands_past_the_bound(fanout: int, depth: int) -> bool:
    expanded: int = fanout ** (depth + 1)
    return expanded > yamlpos.MAX_VALUES * 2


@settings(max_examples=10, deadline=None)
@given(st.integers(2, 12), st.integers(4, 40))
def test_any_alias_bomb_is_refused_at_its_line_quickly(fanout: int, depth: int) -> None:
    if not _expands_past_the_bound(fanout, depth):
        return
    text = MINIMAL + bomb(fanout, depth)
    started = time.monotonic()
    loaded = yamlpos.load(text)
    assert time.monotonic() - started < 10
    (issue,) = loaded.issues
    assert loaded.data is None and "expands to more than" in issue.message
    assert issue.position is not None and issue.position.line > MINIMAL.count("\n")


@settings(max_examples=20, deadline=None)
@given(st.integers(yamlpos.MAX_DEPTH + 1, 400), st.sampled_from(["[", "{a: "]))
def test_nesting_past_the_bound_is_refused(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    loaded = yamlpos.load(opener * depth + "1" + closer * depth + "\n")
    (issue,) = loaded.issues
    assert loaded.data is None and ("nests deeper" in issue.message or "not valid YAML" in issue.message)


def test_a_huge_file_is_refused_before_it_is_parsed() -> None:
    loaded = yamlpos.load("a: " + "x" * (yamlpos.MAX_BYTES + 1) + "\n")
    assert "MiB of text" in loaded.issues[0].message


def test_multi_document_streams_share_one_bound() -> None:
    documents, issues = yamlpos.load_documents("---\n".join([bomb(10, 3)] * 200))
    assert documents == [] and "expands to more than" in issues[0].message
    fine, none = yamlpos.load_documents("a: 1\n---\nb: [*x]\n".replace("*x", "2"))
    assert fine == [{"a": 1}, {"b": [2]}] and none == []


def test_a_manifest_bomb_is_a_manifest_error_with_its_line() -> None:
    with pytest.raises(ManifestError, match=r"bundle\.yaml:\d+:\d+: the document expands"):
        parse_manifest("format_version: 1\n" + bomb(9, 8), "bundle.yaml")


def _capped() -> None:
    limit = 3 * 2**29  # 1.5 GiB of address space: plenty for greenzone, far too little for a bomb
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


@pytest.mark.parametrize(
    ("command", "file_name", "code"),
    [
        # `answers validate` reports a bad file as failed checks (exit 2, README); the rest refuse input (3).
        (["answers", "validate", "{file}"], "site.yaml", 2),
        (["values", "--answers", "{file}"], "site.yaml", 3),
        (["preflight", "--answers", "{file}"], "site.yaml", 3),
        (["install", "--answers", "{file}", "--yes", "--no-tui"], "site.yaml", 3),
        (["bundle", "lock", "{file}"], "bundle.lock.yaml", 3),
        (["sync", "--target", "{file}", "--render-only", "{out}"], "target.yaml", 3),
        (["bundle", "inspect", "{dir}"], "bundle.yaml", 3),
    ],
)
def test_every_command_refuses_a_bomb_located(tmp_path: Path, command: list[str], file_name: str, code: int) -> None:
    bad = tmp_path / "in" / file_name
    bad.parent.mkdir()
    bad.write_text(MINIMAL + bomb(10, 9))
    args = [part.format(file=bad, dir=bad.parent, out=tmp_path / "out") for part in command]
    env = {"GREENZONE_STATE_DIR": str(tmp_path / "state"), "NO_COLOR": "1", "COLUMNS": "200", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "greenzone", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        preexec_fn=_capped,  # the cap applies before the interpreter starts
        check=False,
    )
    output = done.stdout + done.stderr
    assert done.returncode == code, output
    assert "expands to more than" in output and f"{bad.name}:" in output and "Traceback" not in output


@pytest.mark.parametrize(
    "text",
    [
        "a: 2001-13-45 99:99:99\n",  # a timestamp PyYAML cannot construct
        "a: [1, 2\n",  # unterminated
        "a: 1\n---\nb: 2\n",  # two documents where one is read
        "\t- x\n",  # a tab where indentation belongs
    ],
)
def test_broken_documents_are_a_located_refusal_for_readers_without_positions(text: str) -> None:
    with pytest.raises(yamlpos.YamlRefused, match=r"^f\.yaml(:\d+:\d+)?: (not valid YAML|a second YAML document)"):
        yamlpos.data(text, "f.yaml")


def test_a_long_flat_document_is_stopped_while_it_is_read() -> None:
    """No alias at all: hundreds of thousands of plain values are refused before all are composed."""
    text = "a: [" + ", ".join(["0"] * (yamlpos.MAX_VALUES * 3)) + "]\n"
    started = time.monotonic()
    (issue,) = yamlpos.load(text).issues
    assert time.monotonic() - started < 15
    assert f"holds more than {yamlpos.MAX_VALUES:,} values" in issue.message and "alias" not in issue.message


def test_yaml_1_1_value_tag_reads_as_the_string_it_is() -> None:
    """prometheus-operator's CRDs carry a bare `=` in enums; PyYAML's safe loader alone cannot build it."""
    assert yamlpos.data("operators: [=, '!=']\n", "crd.yaml") == {"operators": ["=", "!="]}

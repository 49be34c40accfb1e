"""Messages that lead to the fix and leak nothing (issue 22, class 8), fed generally: every YAML 1.1
boolean word, any unclosed quote after any preceding lines, a bad byte anywhere, any mistyped dotted
address, any secret-looking text typed where a variable's name belongs."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from greenzone.answers.files import read_text
from greenzone.answers.validate import validate_text
from tests.support.cli import MINIMAL
from tests.support.paths import REPO

BOOLEAN_WORDS = [w for word in ("yes", "no", "on", "off", "true", "false") for w in (word, word.title(), word.upper())]


def _errors(text: str) -> list:  # type: ignore[type-arg]
    validation = validate_text(text, "site.yaml")
    assert validation.errors, [p.one_line() for p in validation.problems]
    return validation.errors


@given(word=st.sampled_from(BOOLEAN_WORDS))
def test_a_yaml_boolean_word_in_a_text_field_comes_with_the_advice_to_quote_it(word: str) -> None:
    text = MINIMAL.replace("name: test-appliance", f"name: test-appliance\n  description: {word}")
    (problem,) = _errors(text)
    assert problem.path == ("appliance", "description")
    assert "quotes" in problem.hint and "no" in problem.hint


@given(number=st.sampled_from(["1.10", "8080", "0x1F", "010", "-3"]))
def test_a_number_in_a_text_field_comes_with_the_advice_to_quote_it(number: str) -> None:
    text = MINIMAL.replace("name: test-appliance", f"name: test-appliance\n  description: {number}")
    (problem,) = _errors(text)
    assert "quotes" in problem.hint


@given(value=st.sampled_from(['"0"', '"70000"', "'-1'", '"4 43"']))
def test_a_quoted_number_where_a_number_belongs_comes_with_the_advice_to_drop_the_quotes(value: str) -> None:
    (problem,) = _errors(MINIMAL + f"registry:\n  port: {value}\n")
    assert problem.path == ("registry", "port")
    assert "without quotes" in problem.hint


@given(
    before=st.lists(st.from_regex(r"[a-z]{1,8}: [a-z0-9]{1,8}", fullmatch=True), max_size=5, unique_by=lambda s: s[:8]),
    quote=st.sampled_from(['"', "'"]),
    after=st.integers(0, 4),
)
def test_an_unclosed_quote_is_located_where_it_opens(before: list[str], quote: str, after: int) -> None:
    keys = [line.split(":")[0] for line in before]
    lines = [line for line, key in zip(before, keys, strict=True) if key != "opened"]
    text = "\n".join([*lines, f"opened: {quote}never closed", *(f"later{i}: x" for i in range(after))]) + "\n"
    (problem,) = _errors(text)
    assert problem.position is not None
    assert (problem.position.line, problem.position.column) == (len(lines) + 1, 9), problem.one_line()
    assert "never closed" in problem.message


@given(
    lines=st.lists(st.text(alphabet="abc é:-", max_size=12), min_size=1, max_size=6), bom=st.booleans(), data=st.data()
)
@settings(max_examples=40)
def test_a_byte_that_is_not_utf8_is_located_by_line_and_column(
    lines: list[str], bom: bool, data: st.DataObject
) -> None:
    """With or without a byte-order mark (which editors never show, and which offsets must skip)."""
    row = data.draw(st.integers(0, len(lines) - 1), label="line")
    column = data.draw(st.integers(0, len(lines[row])), label="column")
    damaged = [line.encode() for line in lines]
    damaged[row] = (lines[row][:column]).encode() + b"\xff" + lines[row][column:].encode()
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"gz-utf8-{os.getpid()}.yaml"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + b"\n".join(damaged))
    try:
        _, problem = read_text(path)
    finally:
        path.unlink()
    assert problem is not None and problem.position is not None
    assert (problem.position.line, problem.position.column) == (row + 1, column + 1)
    assert f"line {row + 1}, column {column + 1}" in problem.message and "0xff" in problem.message


@given(
    octets=st.lists(st.integers(0, 999), min_size=3, max_size=6).filter(
        lambda parts: len(parts) != 4 or any(part > 255 for part in parts)
    )
)
def test_a_dotted_number_that_is_no_ip_address_is_refused_as_a_node_address(octets: list[int]) -> None:
    address = ".".join(str(part) for part in octets)
    text = MINIMAL + f"nodes:\n  - address: {address}\n"
    (problem,) = _errors(text)
    assert problem.path == ("nodes", 0, "address") and "not an IP address" in problem.message


CLUSTER_RANGES = (ipaddress.ip_network("10.42.0.0/16"), ipaddress.ip_network("10.43.0.0/16"))  # MINIMAL's defaults


@given(address=st.ip_addresses(v=4).filter(lambda a: not any(a in net for net in CLUSTER_RANGES)))
def test_every_ipv4_address_is_accepted_as_a_node_address(address: ipaddress.IPv4Address) -> None:
    """Outside the pod and service ranges, which a rule refuses for its own reason (overlap)."""
    validation = validate_text(MINIMAL + f"nodes:\n  - address: {address}\n", "site.yaml")
    assert not [p for p in validation.errors if p.path[:1] == ("nodes",)], [p.one_line() for p in validation.errors]


@given(
    secret=st.one_of(
        st.text(
            alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="'\"\\#:{}[],&*!|>%@`"),
            min_size=8,
            max_size=24,
        ),
        st.from_regex(r"[A-Z][a-z]{3,8}[0-9]{1,4}_?[a-z0-9]{0,6}", fullmatch=True),  # a password that is a valid name
        st.from_regex(r"[1-9][0-9]{7,11}", fullmatch=True),  # digits: YAML reads them as a number
    ).filter(lambda s: s.strip() == s and any(c.isdigit() for c in s))  # never a plain word the output uses
)
@settings(max_examples=5, deadline=None)
def test_text_typed_where_a_variable_name_belongs_is_never_echoed(secret: str, tmp_path_factory) -> None:  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("secret")
    answers = root / "answers.yaml"
    quoted = secret if secret.isdigit() else f"'{secret}'"  # digits unquoted: the case YAML reads as a number
    answers.write_text(MINIMAL + f"registry:\n  admin_password_env: {quoted}\n")
    env = {**os.environ, "GREENZONE_STATE_DIR": str(root / "state"), "NO_COLOR": "1"}
    for extra in ([], ["--json"]):
        done = subprocess.run(
            [sys.executable, "-m", "greenzone", "answers", "validate", str(answers), *extra],
            capture_output=True, text=True, env=env, cwd=REPO, timeout=60, check=False,
        )  # fmt: skip
        assert done.returncode in (0, 2), done.stdout + done.stderr
        assert secret not in done.stdout + done.stderr
    log = (root / "state" / "logs").rglob("*")
    assert all(secret not in path.read_text(errors="replace") for path in log if path.is_file())
    problems = json.loads(done.stdout)["checks"]
    assert any(check["name"] == "registry.admin_password_env" for check in problems), problems

"""Property tests: whatever document arrives, validation returns located problems and never raises."""

from __future__ import annotations

from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from greenzone.answers.validate import validate_text
from tests.support.cli import MINIMAL

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
)
keys = st.one_of(
    st.sampled_from(
        [
            "version",
            "appliance",
            "name",
            "nodes",
            "network",
            "hostname",
            "bundle",
            "path",
            "public_key",
            "registry",
            "inference",
            "engine",
            "models",
            "departments",
            "gpu_quota",
            "green_zone",
            "egress",
            "allow_cidrs",
            "admin_password",
            "cloud",
            "replicas",
            "pod_cidr",
        ]
    ),
    st.text(min_size=1, max_size=12),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=5)),
    max_leaves=25,
)


def _assert_sound(text: str) -> None:
    validation = validate_text(text, "fuzz.yaml")
    if not validation.ok:
        assert validation.errors, "invalid input must produce at least one error"
    for problem in validation.problems:
        assert problem.position is not None and problem.position.line >= 1, problem
        assert problem.message and problem.hint, problem


@settings(suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_random_documents(document: Any) -> None:
    _assert_sound(yaml.safe_dump(document))


@settings()
@given(st.text(max_size=200))
def test_random_text(text: str) -> None:
    _assert_sound(text)


_BASE: dict[str, Any] = yaml.safe_load(MINIMAL) | {
    "inference": {"engine": "ollama", "models": ["gemma3:4b"]},
    "departments": [{"name": "legal", "gpu_quota": 1}],
}


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out += _paths(value, (*prefix, index))
    return out


@settings()
@given(st.data())
def test_mutated_valid_document(data: st.DataObject) -> None:
    """Replace one node of a valid document with anything; the result is valid or located-invalid."""
    import copy

    document = copy.deepcopy(_BASE)
    path = data.draw(st.sampled_from(_paths(document)[1:]))
    parent = document
    for item in path[:-1]:
        parent = parent[item]
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if action == "delete" and isinstance(parent, dict):
        del parent[path[-1]]
    elif action == "add" and isinstance(parent, dict):
        parent[data.draw(keys)] = data.draw(documents)
    else:
        parent[path[-1]] = data.draw(documents)
    _assert_sound(yaml.safe_dump(document))

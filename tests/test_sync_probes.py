"""The probe suite against two small local HTTP servers speaking the OpenAI-compatible API: they
stand in for the on-prem and the cloud inference engines (Ollama or vLLM), which need GPUs and model
weights. Each answers a prompt with a deterministic function of it, as a model does at temperature 0.
"""

from __future__ import annotations

import hashlib

import pytest

from greenzone.results import Status
from greenzone.sync.probe_client import ask_all
from greenzone.sync.probes import SYNTHETIC_PROMPTS, Answer, judge_probes, latency_summary, percentile
from tests.support.health_standins import Engine, closed_port, serve

MODEL = "gemma3:4b"


def weights(salt: str) -> Engine:
    """An engine whose answers depend on the prompt and on its 'weights' (the salt)."""
    return Engine({MODEL}, reply=lambda prompt: hashlib.sha256((salt + prompt).encode()).hexdigest()[:12])


def test_same_weights_give_identical_answers_and_latency_figures() -> None:
    with serve(weights("gemma3-q4").route) as onprem, serve(weights("gemma3-q4").route) as cloud:
        here = ask_all(onprem, MODEL, SYNTHETIC_PROMPTS)
        there = ask_all(cloud, MODEL, SYNTHETIC_PROMPTS)
    checks = judge_probes(MODEL, here, there, same_engine=True)
    assert [c.status for c in checks] == [Status.PASS] * 3, checks
    assert checks[2].detail == f"{len(SYNTHETIC_PROMPTS)} of {len(SYNTHETIC_PROMPTS)} answers identical"
    assert "p50" in checks[0].detail and "p95" in checks[1].detail
    assert len({answer.text for answer in here}) == len(SYNTHETIC_PROMPTS)  # the stand-in really varies


def test_different_weights_are_caught_with_the_first_differing_prompt() -> None:
    with serve(weights("gemma3-q4").route) as onprem, serve(weights("gemma3-q8").route) as cloud:
        checks = judge_probes(
            MODEL, ask_all(onprem, MODEL, SYNTHETIC_PROMPTS), ask_all(cloud, MODEL, SYNTHETIC_PROMPTS), same_engine=True
        )
    assert checks[2].status is Status.FAIL
    assert checks[2].detail.startswith(f"{len(SYNTHETIC_PROMPTS)} of {len(SYNTHETIC_PROMPTS)} answers differ")
    assert repr(SYNTHETIC_PROMPTS[0]) in checks[2].detail


def test_a_down_or_wrong_endpoint_fails_availability_with_the_reason() -> None:
    with serve(weights("w").route) as onprem, serve(Engine({"other-model"}).route) as wrong_model:
        here = ask_all(onprem, MODEL, SYNTHETIC_PROMPTS[:2])
        down = ask_all(closed_port(), MODEL, SYNTHETIC_PROMPTS[:2], timeout=2)
        missing = ask_all(wrong_model, MODEL, SYNTHETIC_PROMPTS[:2])
    checks = judge_probes(MODEL, here, down, same_engine=True)
    assert checks[1].status is Status.FAIL and "2 of 2 prompts failed: connection refused" in checks[1].detail
    assert checks[2].status is Status.SKIP  # nothing answered on both sides to compare
    assert "HTTP 404 without an answer" in judge_probes(MODEL, here, missing, same_engine=True)[1].detail


def test_different_engines_do_not_compare_answers() -> None:
    answers = [Answer("p", 0.1, "x")]
    checks = judge_probes(MODEL, answers, [Answer("p", 0.1, "y")], same_engine=False)
    assert checks[2].status is Status.SKIP and "different engines" in checks[2].detail


def test_percentiles_are_nearest_rank() -> None:
    seconds = [0.1 * n for n in range(1, 21)]  # 0.1 .. 2.0
    assert percentile(seconds, 0.5) == seconds[9]
    assert percentile(seconds, 0.95) == seconds[18]
    assert percentile([], 0.5) == 0.0
    summary = latency_summary([Answer("p", s, "t") for s in seconds] + [Answer("p", 99.0, error="down")])
    assert summary == {"p50_ms": 1000.0, "p95_ms": 1900.0, "max_ms": 2000.0}  # failures are not latencies


def test_gateway_keys_for_the_probes_come_from_named_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    from greenzone.errors import InputError
    from greenzone.redact import REDACTOR
    from greenzone.sync.session import _key_from_env

    assert _key_from_env(None, "--onprem-key-env") is None
    monkeypatch.delenv("GZ_TEST_GATEWAY_KEY", raising=False)
    with pytest.raises(InputError, match=r"--onprem-key-env names \$GZ_TEST_GATEWAY_KEY, which is not set"):
        _key_from_env("GZ_TEST_GATEWAY_KEY", "--onprem-key-env")
    monkeypatch.setenv("GZ_TEST_GATEWAY_KEY", "sk-probe-key-0123456789abcdef")
    assert _key_from_env("GZ_TEST_GATEWAY_KEY", "--onprem-key-env") == "sk-probe-key-0123456789abcdef"
    assert "sk-probe-key-0123456789abcdef" not in REDACTOR.redact("key sk-probe-key-0123456789abcdef")

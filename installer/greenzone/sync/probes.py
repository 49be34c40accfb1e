"""The probe suite: the same synthetic prompts to both inference endpoints, judged (pure).

Only synthetic prompts ever go to the cloud copy; the appliance's own data stays on site. At
temperature 0 with a fixed seed, one engine serving the same model weights answers the same prompt
with the same text, so a different answer means a different model, engine version or setting.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from greenzone.results import Check, Status, verdict

_probe = functools.partial(verdict, group="probes")

SYNTHETIC_PROMPTS = (
    "Reply with the single word: ready.",
    "What is 17 multiplied by 23? Answer with the number only.",
    "List the first five prime numbers, separated by commas.",
    "Translate 'good morning' into French. Answer with the translation only.",
    "Name the chemical symbol for sodium. Answer with the symbol only.",
)
"""Made-up prompts with short, deterministic answers; nothing from a customer."""


@dataclass(frozen=True)
class Answer:
    prompt: str
    seconds: float
    text: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile (what a latency SLO means); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def latency_summary(answers: Sequence[Answer]) -> dict[str, float]:
    seconds = [answer.seconds for answer in answers if answer.ok]
    return {
        "p50_ms": round(percentile(seconds, 0.50) * 1000, 1),
        "p95_ms": round(percentile(seconds, 0.95) * 1000, 1),
        "max_ms": round(max(seconds, default=0.0) * 1000, 1),
    }


def _availability(side: str, model: str, answers: Sequence[Answer]) -> Check:
    failed = [answer for answer in answers if not answer.ok]
    name = f"{side}: {model} answers"
    if not answers:
        return _probe(name, Status.SKIP, "no prompts sent")
    if failed:
        return _probe(
            name,
            Status.FAIL,
            f"{len(failed)} of {len(answers)} prompts failed: {failed[0].error}",
            f"check the {side} inference endpoint (`greenzone health` on site; the pods in the cloud)",
        )
    summary = latency_summary(answers)
    return _probe(
        name,
        Status.PASS,
        f"{len(answers)} of {len(answers)} answered; p50 {summary['p50_ms']:.0f} ms, p95 {summary['p95_ms']:.0f} ms",
    )


def judge_probes(model: str, onprem: Sequence[Answer], cloud: Sequence[Answer], *, same_engine: bool) -> list[Check]:
    checks = [_availability("on-prem", model, onprem), _availability("cloud", model, cloud)]
    name = f"{model}: same answers at temperature 0"
    pairs = [(a, b) for a, b in zip(onprem, cloud, strict=False) if a.ok and b.ok]
    if not same_engine:
        checks.append(_probe(name, Status.SKIP, "the two sides run different engines; answers may differ"))
    elif not pairs:
        checks.append(_probe(name, Status.SKIP, "no prompt was answered on both sides"))
    else:
        differ = [(a, b) for a, b in pairs if a.text.strip() != b.text.strip()]
        if differ:
            a, b = differ[0]
            checks.append(
                _probe(
                    name,
                    Status.FAIL,
                    f"{len(differ)} of {len(pairs)} answers differ; first: {a.prompt!r} -> on-prem "
                    f"{a.text.strip()[:60]!r}, cloud {b.text.strip()[:60]!r}",
                    "the sides serve different weights, engine versions or settings: compare the image and value "
                    "checks above",
                )
            )
        else:
            checks.append(_probe(name, Status.PASS, f"{len(pairs)} of {len(pairs)} answers identical"))
    return checks

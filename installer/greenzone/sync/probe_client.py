"""Sends the probe suite to one OpenAI-compatible endpoint (Ollama and vLLM both serve
`/v1/chat/completions`), one prompt at a time so the latencies are not queueing time."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from greenzone.health.readers.http import request, tls_context
from greenzone.sync.probes import Answer

CALL_TIMEOUT = 60.0
MAX_TOKENS = 32


def _text(body: Any) -> str | None:
    try:
        return str(body["choices"][0]["message"]["content"])
    except (KeyError, IndexError, TypeError):
        return None


def ask_all(
    base_url: str,
    model: str,
    prompts: Sequence[str],
    *,
    ca_file: Path | None = None,
    timeout: float = CALL_TIMEOUT,
    key: str | None = None,
    key_source: str = "a key",
) -> list[Answer]:
    """`key`: the inference gateway's bearer key (departments and probes alike go through it);
    `key_source` names where a key comes from, for the message when the gateway refuses."""
    context = tls_context(ca_file)
    headers = {"Authorization": f"Bearer {key}"} if key else None
    answers = []
    for prompt in prompts:
        http = request(
            base_url.rstrip("/") + "/v1/chat/completions",
            method="POST",
            payload={
                "model": model,
                "messages": [{"role": "user", "content": prompt}],
                "temperature": 0,
                "seed": 0,
                "max_tokens": MAX_TOKENS,
            },
            timeout=timeout,
            context=context,
            headers=headers,
        )
        text = _text(http.body) if http.ok else None
        if http.error:
            answers.append(Answer(prompt, http.seconds, error=http.error))
            if http.error.startswith("no answer within"):
                # A silent endpoint would cost one timeout per prompt; one is enough to know.
                skipped = f"not sent: {base_url} did not answer the previous prompt"
                answers.extend(Answer(rest, 0.0, error=skipped) for rest in prompts[len(answers) :])
                break
        elif http.status in (401, 403):
            refused = "refused the key" if key else "wants a key"
            answers.append(
                Answer(prompt, http.seconds, error=f"HTTP {http.status}: the gateway {refused} ({key_source})")
            )
            answers.extend(
                Answer(rest, 0.0, error="not sent: the gateway refused the previous prompt")
                for rest in prompts[len(answers) :]
            )
            break
        elif text is None:
            answers.append(Answer(prompt, http.seconds, error=f"HTTP {http.status} without an answer"))
        else:
            answers.append(Answer(prompt, http.seconds, text))
    return answers

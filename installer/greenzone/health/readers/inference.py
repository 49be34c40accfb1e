"""One-token requests to every configured model, the way department users call the engine.

Ollama gets its own `/api/generate` for each model plus one OpenAI-compatible `/v1/chat/completions`
(what OpenAI SDKs use against it); vLLM gets `/v1/completions`, which every model serves whether or
not it has a chat template. Temperature 0 and one token keep the probe cheap on a busy GPU.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from greenzone.health.observed import ClusterView, Http, InferenceView, ModelAnswer
from greenzone.health.readers.deadline import Deadline
from greenzone.health.readers.http import request, tls_context
from greenzone.health.targets import Targets, engine_endpoints

CALL_TIMEOUT = 8.0
PROMPT = "Reply with the word OK."


def _text(api: str, http: Http) -> str | None:
    body: Any = http.body
    if not http.ok or not isinstance(body, dict):
        return None
    try:
        if api == "ollama":
            return str(body["response"])
        choice = body["choices"][0]
        return str(choice["message"]["content"] if "message" in choice else choice["text"])
    except (KeyError, IndexError, TypeError):
        return None


def _probe(model: str, url: str, api: str, engine: str, deadline: Deadline) -> ModelAnswer:
    if api == "ollama":
        path = "/api/generate"
        payload: dict[str, Any] = {
            "model": model,
            "prompt": PROMPT,
            "stream": False,
            "options": {"num_predict": 1, "temperature": 0},
        }
    elif engine == "ollama":
        path = "/v1/chat/completions"
        payload = {"model": model, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": 1, "temperature": 0}
    else:
        path = "/v1/completions"
        payload = {"model": model, "prompt": PROMPT, "max_tokens": 1, "temperature": 0}
    http = request(f"{url}{path}", method="POST", payload=payload, timeout=deadline.timeout(CALL_TIMEOUT))
    return ModelAnswer(model, "ollama" if api == "ollama" else "openai", http, _text(api, http))


def _chat(targets: Targets, deadline: Deadline) -> Http | None:
    if not targets.chat_url:
        return None
    context = tls_context(targets.ca_file)
    return request(targets.chat_url, timeout=deadline.timeout(CALL_TIMEOUT), context=context, follow_redirects=False)


def read_inference(targets: Targets, cluster: ClusterView | None, deadline: Deadline) -> InferenceView:
    """The models are asked in parallel, beside the chat UI, so the layer costs its slowest answer."""
    with ThreadPoolExecutor(1) as side:
        chat = side.submit(_chat, targets, deadline)
        if cluster is not None and cluster.error and not targets.inference_url:
            return InferenceView(
                chat_ui=chat.result(), error="the engine's address comes from the cluster, whose API did not answer"
            )
        endpoints, error = engine_endpoints(cluster.services if cluster else (), targets)
        if error:
            return InferenceView(chat_ui=chat.result(), error=error)
        jobs = [(model, url, "ollama" if targets.engine == "ollama" else "openai") for model, url in endpoints.items()]
        if targets.engine == "ollama" and jobs:
            jobs.append((jobs[0][0], jobs[0][1], "openai"))
        with ThreadPoolExecutor(max(1, len(jobs))) as pool:
            answers = tuple(pool.map(lambda job: _probe(job[0], job[1], job[2], targets.engine, deadline), jobs))
        return InferenceView(endpoints=endpoints, answers=answers, chat_ui=chat.result())

"""One-token requests to every configured model, the way department users call the engine.

Ollama gets its own `/api/generate` for each model plus one OpenAI-compatible `/v1/chat/completions`
(what OpenAI SDKs use against it); vLLM gets `/v1/completions`, which every model serves whether or
not it has a chat template. Temperature 0 and one token keep the probe cheap on a busy GPU.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from greenzone.health.observed import ClusterView, GatewayView, Http, InferenceView, ModelAnswer
from greenzone.health.readers.deadline import Deadline
from greenzone.health.readers.http import request, tls_context
from greenzone.health.targets import Targets, engine_endpoints, gateway_endpoint

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


def _probe(model: str, url: str, api: str, engine: str, deadline: Deadline, key: str = "") -> ModelAnswer:
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
    headers = {"Authorization": f"Bearer {key}"} if key else None
    http = request(
        f"{url}{path}", method="POST", payload=payload, headers=headers, timeout=deadline.timeout(CALL_TIMEOUT)
    )
    return ModelAnswer(model, "ollama" if api == "ollama" else "openai", http, _text(api, http))


def _chat(targets: Targets, deadline: Deadline) -> Http | None:
    if not targets.chat_url:
        return None
    context = tls_context(targets.ca_file)
    return request(targets.chat_url, timeout=deadline.timeout(CALL_TIMEOUT), context=context, follow_redirects=False)


def _gateway_keys(targets: Targets) -> tuple[dict[str, str], str]:
    """Tenant -> key from the 0600 credentials file (registered with the log redactor on reading),
    and why it could not be read."""
    from greenzone.deploy.credentials import load_credentials
    from greenzone.errors import InputError
    from greenzone.values import gateway

    path = targets.credentials_file
    try:
        if not path.is_file():
            return {}, f"no credentials file at {path}"
        stored = load_credentials(path)
    except (InputError, OSError) as error:
        return {}, str(error)
    return gateway.tenant_keys(stored), ""


def _read_gateway(url: str, keys: dict[str, str], error: str, targets: Targets, deadline: Deadline) -> GatewayView:
    """Alive (a public route), a made-up key refused, then each department's key on /v1/models,
    which costs no tokens and names no department's data."""
    from greenzone.values.gateway import new_key

    def models(key: str) -> Http:
        headers = {"Authorization": f"Bearer {key}"}
        return request(f"{url}/v1/models", headers=headers, timeout=deadline.timeout(CALL_TIMEOUT))

    names = [] if error else list(targets.departments)
    with ThreadPoolExecutor(max(2, len(names) + 2)) as pool:
        alive = pool.submit(request, f"{url}/health/liveliness", timeout=deadline.timeout(CALL_TIMEOUT))
        stranger = pool.submit(models, new_key())
        answers = [pool.submit(models, keys[name]) if name in keys else None for name in names]
        return GatewayView(
            url=url,
            alive=alive.result(),
            stranger=stranger.result(),
            keys=tuple((name, job.result() if job else None) for name, job in zip(names, answers, strict=True)),
            keys_error=error,
        )


def read_inference(targets: Targets, cluster: ClusterView | None, deadline: Deadline) -> InferenceView:
    """The models are asked in parallel, beside the chat UI, so the layer costs its slowest answer.
    With a gateway they are asked through it, the way departments reach them (the engines answer
    nobody else), with the monitoring tenant's key."""
    with ThreadPoolExecutor(1) as side:
        chat = side.submit(_chat, targets, deadline)
        if cluster is not None and cluster.error and not targets.inference_url and not targets.gateway_url:
            return InferenceView(
                chat_ui=chat.result(), error="the engine's address comes from the cluster, whose API did not answer"
            )
        services = cluster.services if cluster else ()
        gateway_url = gateway_endpoint(services, targets)
        view = None
        key = ""
        if gateway_url:
            keys, keys_error = _gateway_keys(targets)
            view = _read_gateway(gateway_url, keys, keys_error, targets, deadline)
            endpoints, error = dict.fromkeys(targets.models, gateway_url), ""
            key = keys.get("monitoring", "")
        else:
            endpoints, error = engine_endpoints(services, targets)
        if error:
            return InferenceView(chat_ui=chat.result(), error=error)
        native = targets.engine == "ollama" and not gateway_url
        jobs = [(model, url, "ollama" if native else "openai") for model, url in endpoints.items()]
        if native and jobs:
            jobs.append((jobs[0][0], jobs[0][1], "openai"))
        with ThreadPoolExecutor(max(1, len(jobs))) as pool:
            answers = tuple(pool.map(lambda job: _probe(job[0], job[1], job[2], targets.engine, deadline, key), jobs))
        return InferenceView(endpoints=endpoints, answers=answers, chat_ui=chat.result(), gateway=view)

"""Inference-layer verdicts: every configured model answers a one-token request, and the chat UI loads."""

from __future__ import annotations

import functools
from collections.abc import Iterator

from greenzone.health.observed import GatewayView, Http, InferenceView, ModelAnswer
from greenzone.health.targets import Targets
from greenzone.results import Check, Status, verdict

LAYER = "inference"
_check = functools.partial(verdict, group=LAYER)
SLOW_TOKEN_SECONDS = 3.0
"""A loaded model answers one token in well under a second on a GPU; slower means loading, CPU or queueing."""
_API_NAME = {"ollama": "Ollama API", "openai": "OpenAI-compatible API"}


def _error_text(http: Http) -> str:
    body = http.body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            error = error.get("message")
        if error:
            return str(error)[:200]
    if isinstance(body, str) and body.strip():
        return body.strip()[:200]
    return ""


def _answer(answer: ModelAnswer, targets: Targets, *, via_gateway: bool = False) -> Check:
    http = answer.http
    name = f"model {answer.model} ({_API_NAME[answer.api]}{' through the gateway' if via_gateway else ''})"
    logs = f"`kubectl -n {targets.inference_namespace} logs deploy/NAME` of the engine"
    if not http.answered:
        return _check(
            name, Status.FAIL, f"{http.url}: {http.error}", f"{logs}; a model still loading answers once loaded"
        )
    if http.status == 404:
        return _check(
            name,
            Status.FAIL,
            f"the engine does not know this model: {_error_text(http) or 'HTTP 404'}",
            "re-run `greenzone deploy --phase inference`; it copies the bundle's models into the engine's store",
        )
    if not http.ok:
        return _check(name, Status.FAIL, f"HTTP {http.status}: {_error_text(http)}", logs)
    if answer.text is None:
        return _check(
            name,
            Status.FAIL,
            f"HTTP {http.status} but not a {_API_NAME[answer.api]} answer: {str(http.body)[:120]!r}",
            "check that the address is the engine's (--endpoint inference=URL) and not a proxy's page",
        )
    if http.seconds > SLOW_TOKEN_SECONDS:
        return _check(
            name,
            Status.WARN,
            f"one token in {http.seconds:.2f} s (slower than {SLOW_TOKEN_SECONDS:.0f} s)",
            "the model was loading, runs on CPU, or requests queue: check GPU use on the dashboards",
        )
    said = f", said {answer.text!r}" if answer.text else ""
    return _check(name, Status.PASS, f"one token in {http.seconds:.2f} s{said}")


def gateway_checks(view: GatewayView, targets: Targets) -> Iterator[Check]:
    logs = f"`kubectl -n {targets.inference_namespace} logs deploy/greenzone-inference-gateway`"
    if view.alive.ok:
        yield _check("gateway", Status.PASS, f"{view.url} {view.alive.outcome()}")
    else:
        yield _check("gateway", Status.FAIL, f"{view.url}: {view.alive.outcome()}", logs)
        return
    if view.stranger.status == 401:
        yield _check("gateway refuses unknown keys", Status.PASS, "a made-up key got HTTP 401")
    else:
        yield _check(
            "gateway refuses unknown keys",
            Status.FAIL,
            f"a made-up key got {view.stranger.outcome()}: anyone can reach the models",
            "re-run `greenzone deploy --phase inference`; the gateway's config must name greenzone_gateway's custom auth",
        )
    if view.keys_error:
        yield _check(
            "department keys",
            Status.FAIL,
            f"not tried: {view.keys_error}",
            "run `greenzone health` as the user that installed the appliance (root): the keys are in its "
            "0600 credentials file",
        )
    for name, http in view.keys:
        check = f"department {name}'s key"
        if http is None:
            yield _check(
                check,
                Status.FAIL,
                "the credentials file has no key for it",
                "re-run `greenzone install` (it creates missing keys), or `greenzone departments rotate " + name + "`",
            )
        elif http.ok:
            yield _check(check, Status.PASS, f"accepted ({http.outcome()})")
        else:
            detail = f"{http.outcome()} {_error_text(http)}".strip() if http.answered else http.outcome()
            yield _check(
                check,
                Status.FAIL,
                f"refused: {detail}",
                f"`greenzone departments rotate {name}` writes a new key to the gateway and the department",
            )


def inference_checks(view: InferenceView, targets: Targets) -> Iterator[Check]:
    if view.gateway is not None:
        yield from gateway_checks(view.gateway, targets)
    if view.error:
        yield _check(
            "inference endpoint",
            Status.FAIL,
            view.error,
            f"`kubectl -n {targets.inference_namespace} get svc,pods`, or give --endpoint inference=URL",
        )
    else:
        for answer in view.answers:
            yield _answer(answer, targets, via_gateway=view.gateway is not None)
        answered = {answer.model for answer in view.answers}
        for model in targets.models:
            if model not in answered:
                yield _check(
                    f"model {model}", Status.FAIL, "not probed: no endpoint serves it", "check the engine's Services"
                )
    if view.chat_ui is not None:
        http = view.chat_ui
        if http.answered and (http.ok or http.status in (301, 302, 303, 307, 308)):
            yield _check("chat UI", Status.PASS, f"{http.url} {http.outcome()}")
        else:
            yield _check(
                "chat UI",
                Status.FAIL,
                f"{http.url}: {http.outcome()}" + (f" {_error_text(http)}" if http.answered else ""),
                f"`kubectl -n {targets.inference_namespace} get pods,ingress`; the name must resolve to the node",
            )

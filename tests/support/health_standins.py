"""Small local HTTP servers that stand in for what cannot run here, for the health tests.

- `engine`: speaks the Ollama API (`/api/generate`) and the OpenAI-compatible API
  (`/v1/chat/completions`, `/v1/completions`) with the response shapes of Ollama 0.6 and vLLM 0.8;
  it stands in for the inference engine, which needs a GPU and model weights.
- `kube_api`: serves Kubernetes API JSON (objects built with the kubernetes client's model classes,
  serialised as the API serves them) on the paths the real client requests; it stands in for the
  k3s API server, which cannot run here.
- `harbor_front`: answers Harbor's own API (`/api/v2.0/health`, project lookups) with Harbor's
  response shapes and forwards everything else to a real `docker-registry`, the way Harbor's nginx
  routes `/v2/` to its registry and `/api/` to its core.
- `silent_port`: a socket that accepts connections and never answers, like a hung process.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.support import loopback
from tests.support.faults import silent_peer

Reply = tuple[int, Any]


@contextmanager
def serve(route: Callable[[str, str, Any], Reply | None], *, tls: Any = None) -> Iterator[str]:
    """Runs `route(method, path, json_body) -> (status, body)` on a loopback port; yields the base URL."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            body = json.loads(raw) if raw.startswith(b"{") else raw
            reply = route(self.command, self.path, body)
            status, payload = reply if reply else (404, {"error": f"no route for {self.path}"})
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_HEAD = do_PUT = do_PATCH = _handle

    with loopback.serving(Handler, tls=tls) as (url, _):
        yield url


@dataclass
class Engine:
    models: set[str]
    delay: float = 0.0
    calls: list[tuple[str, str]] = field(default_factory=list)
    reply: Callable[[str], str] | None = None
    """The chat answer to the last user message (a deterministic model at temperature 0); "OK" without it."""

    def route(self, method: str, path: str, body: Any) -> Reply | None:
        if method != "POST" or not isinstance(body, dict):
            return (200, {"status": "ok"}) if path == "/" else None
        self.calls.append((path, str(body.get("model"))))
        time.sleep(self.delay)
        model = body.get("model")
        if path == "/api/generate":
            if model not in self.models:
                return 404, {"error": f"model '{model}' not found"}
            return 200, {"model": model, "created_at": "2026-11-22T03:00:00Z", "response": "OK", "done": True}
        if path in ("/v1/chat/completions", "/v1/completions"):
            if model not in self.models:
                return 404, {"object": "error", "message": f"The model `{model}` does not exist.", "code": 404}
            content = self.reply(str(body["messages"][-1]["content"])) if self.reply and "messages" in body else "OK"
            choice: dict[str, Any] = (
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "length"}
                if path.endswith("chat/completions")
                else {"index": 0, "text": "OK", "finish_reason": "length"}
            )
            return 200, {"id": "cmpl-1", "object": "chat.completion", "model": model, "choices": [choice]}
        return None


def kube_api(objects: Mapping[str, Any]) -> Callable[[str, str, Any], Reply | None]:
    """Routes GET paths to API JSON; unknown paths answer the API's own 404 Status object."""

    def route(method: str, path: str, body: Any) -> Reply:
        found = objects.get(urlsplit(path).path)
        if found is None:
            return 404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}
        return 200, found

    return route


def harbor_front(registry: str, health: Any, projects: set[str]) -> Callable[[str, str, Any], Reply | None]:
    def route(method: str, path: str, body: Any) -> Reply:
        parts = urlsplit(path)
        if parts.path == "/api/v2.0/health":
            return 200, health
        if parts.path == "/api/v2.0/projects":
            name = parse_qs(parts.query).get("project_name", [""])[0]
            return (200, b"") if name in projects else (404, b"")
        request = urllib.request.Request(registry + path, method=method)
        request.add_header(
            "Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json"
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    return route


HARBOR_HEALTHY = {
    "status": "healthy",
    "components": [
        {"name": name, "status": "healthy"}
        for name in ("core", "database", "jobservice", "portal", "redis", "registry", "registryctl")
    ],
}


@contextmanager
def silent_port() -> Iterator[str]:
    """A peer that accepts and never answers (tests/support/faults.py), as a base URL."""
    with silent_peer() as (host, port):
        yield f"http://{host}:{port}"


def closed_port() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"

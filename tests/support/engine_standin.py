"""An inference engine stand-in that meters like the real ones, for the gateway tests.

It speaks the OpenAI-compatible API as both engines serve it (vLLM's server, and Ollama's `/v1`
compatibility layer) plus Ollama's native `/api/chat`, with `usage` in every answer and, when
streaming, server-sent events ending in a usage chunk when `stream_options.include_usage` asks for
it, as the OpenAI API documents. Token counts are words, so a test knows them in advance. It stands in
for the engines, which need a GPU and model weights.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.support import loopback


def words(text: str) -> int:
    return len(text.split())


ANSWER = "private answers stay on site"
"""What every model says; 5 completion tokens."""


@dataclass
class MeteredEngine:
    models: set[str]
    kind: str = "vllm"
    requests: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def prompt_tokens(self, body: dict[str, Any]) -> int:
        if "messages" in body:
            return sum(words(str(message.get("content") or "")) for message in body["messages"])
        return words(str(body.get("prompt") or ""))


@contextmanager
def metered_engine(models: set[str], kind: str = "vllm") -> Iterator[tuple[str, MeteredEngine]]:
    engine = MeteredEngine(models, kind)

    class Handler(loopback.Quiet):
        protocol_version = "HTTP/1.1"
        # Headers and body leave as separate writes: without this, Nagle and the client's delayed ACK
        # add ~40 ms to every kept-alive answer, which is the stand-in's cost, not the gateway's.
        disable_nagle_algorithm = True

        def _json(self, status: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path in ("/v1/models", "/api/tags"):
                self._json(200, {"object": "list", "data": [{"id": m, "object": "model"} for m in sorted(models)]})
            else:
                self._json(200 if self.path in ("/", "/health") else 404, {"status": "ok"})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            with engine.lock:
                engine.requests.append({"path": self.path, "body": body, "headers": dict(self.headers)})
            model = body.get("model")
            if model not in models:
                self._json(404, {"object": "error", "message": f"The model `{model}` does not exist.", "code": 404})
                return
            prompt = engine.prompt_tokens(body)
            usage = {
                "prompt_tokens": prompt,
                "completion_tokens": words(ANSWER),
                "total_tokens": prompt + words(ANSWER),
            }
            if self.path == "/api/chat":
                self._json(
                    200,
                    {
                        "model": model,
                        "created_at": "2026-11-26T00:00:00Z",
                        "message": {"role": "assistant", "content": ANSWER},
                        "done": True,
                        "done_reason": "stop",
                        "prompt_eval_count": prompt,
                        "eval_count": words(ANSWER),
                    },
                )
                return
            chat = self.path.endswith("/chat/completions")
            if not body.get("stream"):
                choice: dict[str, Any] = (
                    {"index": 0, "message": {"role": "assistant", "content": ANSWER}, "finish_reason": "stop"}
                    if chat
                    else {"index": 0, "text": ANSWER, "finish_reason": "stop"}
                )
                kind = "chat.completion" if chat else "text_completion"
                self._json(
                    200,
                    {"id": "cmpl-1", "object": kind, "created": 1, "model": model, "choices": [choice], "usage": usage},
                )
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            for index, word in enumerate(ANSWER.split()):
                piece = word if index == 0 else f" {word}"
                delta = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
                chunk = {
                    "id": "cmpl-1",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": model,
                    "choices": [delta],
                }
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            last = {"index": 0, "delta": {}, "finish_reason": "stop"}
            self.wfile.write(
                f"data: {json.dumps({'id': 'cmpl-1', 'object': 'chat.completion.chunk', 'created': 1, 'model': model, 'choices': [last]})}\n\n".encode()
            )
            if (body.get("stream_options") or {}).get("include_usage"):
                tail = {
                    "id": "cmpl-1",
                    "object": "chat.completion.chunk",
                    "created": 1,
                    "model": model,
                    "choices": [],
                    "usage": usage,
                }
                self.wfile.write(f"data: {json.dumps(tail)}\n\n".encode())
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            self.close_connection = True

    with loopback.serving(Handler) as (url, _server):
        yield url, engine

"""A real HTTP server on 127.0.0.1 standing in for upstream release hosts (GitHub, get.helm.sh, HF).

It serves a dict of path -> bytes, honours Range requests like those hosts do, and logs each
request so tests can prove what was (not) downloaded again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Files:
    url: str = ""
    content: dict[str, bytes] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range header)

    def fetched(self, path: str) -> int:
        return sum(1 for requested, _ in self.requests if requested == path)


@contextmanager
def serving(files: Files) -> Iterator[Files]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            header = self.headers.get("Range")
            files.requests.append((self.path, header))
            body = files.content.get(self.path)
            if body is None:
                self.send_error(404)
                return
            status = 200
            if header:
                start = int(header.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_error(416)
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                body, status = body[start:], 206
            else:
                self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    files.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield files
    finally:
        server.shutdown()
        server.server_close()

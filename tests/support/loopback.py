"""A stdlib HTTP server on 127.0.0.1, served from a thread for the length of a `with` block: the one
lifecycle the tests' stand-in servers (bundle files, stalling registries, inference engines) share."""

from __future__ import annotations

import contextlib
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@contextlib.contextmanager
def serving(handler: Any, *, tls: ssl.SSLContext | None = None) -> Iterator[tuple[str, ThreadingHTTPServer]]:
    """Yields the base URL and the server; shut down and closed on exit."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}", server
    finally:
        server.shutdown()
        server.server_close()


class Quiet(BaseHTTPRequestHandler):
    """No access log on the test's stderr."""

    def log_message(self, format: str, *args: object) -> None:
        pass

"""One timed HTTP request with the standard library, as an `Http` record; never raises."""

from __future__ import annotations

import json
import socket
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from greenzone.health.observed import Http

MAX_BODY = 64 * 1024


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """The appliance's CA when it exists (self-signed installs), else the system's trust store."""
    return ssl.create_default_context(cafile=str(ca_file) if ca_file and ca_file.is_file() else None)


def _reason(error: BaseException, timeout: float) -> str:
    if isinstance(error, urllib.error.URLError) and not isinstance(error, urllib.error.HTTPError):
        error = error.reason if isinstance(error.reason, BaseException) else Exception(str(error.reason))
    if isinstance(error, (TimeoutError, socket.timeout)):
        return f"no answer within {timeout:.1f} s"
    if isinstance(error, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    if isinstance(error, socket.gaierror):
        return "the name does not resolve"
    if isinstance(error, ssl.SSLCertVerificationError):
        return f"TLS certificate not trusted: {error.verify_message}"
    if isinstance(error, ssl.SSLError):
        return f"TLS failed: {error.reason or error}"
    return str(error) or type(error).__name__


def _decode(raw: bytes, content_type: str) -> Any:
    text = raw.decode("utf-8", "replace")
    if "json" in content_type or text.lstrip().startswith(("{", "[")):
        try:
            return json.loads(text)
        except ValueError:
            pass
    return text[:2048]


def request(
    url: str,
    *,
    timeout: float,
    method: str = "GET",
    payload: Any = None,
    headers: dict[str, str] | None = None,
    context: ssl.SSLContext | None = None,
    follow_redirects: bool = True,
) -> Http:
    data = json.dumps(payload).encode() if payload is not None else None
    req = urllib.request.Request(url, data=data, method=method)
    req.add_header("User-Agent", "greenzone-health")
    if data is not None:
        req.add_header("Content-Type", "application/json")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    handlers: list[urllib.request.BaseHandler] = [urllib.request.HTTPSHandler(context=context)]
    if not follow_redirects:
        handlers.append(_NoRedirect())
    opener = urllib.request.build_opener(*handlers)
    started = time.monotonic()
    try:
        with opener.open(req, timeout=timeout) as response:
            body = response.read(MAX_BODY) if method != "HEAD" else b""
            status, content_type = response.status, response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        body = error.read(MAX_BODY) if method != "HEAD" else b""
        status, content_type = error.code, error.headers.get("Content-Type", "") if error.headers else ""
    except (OSError, urllib.error.URLError, ValueError) as error:
        return Http(url, seconds=time.monotonic() - started, error=_reason(error, timeout))
    return Http(url, status, time.monotonic() - started, _decode(body, content_type) if body else None)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A login page's redirect is an answer of its own; following it would leave the appliance's name."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None

"""Greenzone's hooks into the LiteLLM proxy: department keys and the audit trail.

Both use LiteLLM's documented extension points of its MIT-licensed core (docs.litellm.ai/docs/proxy/
custom_auth and docs/observability/custom_callback), so the gateway needs no database: LiteLLM's own
virtual keys and teams live in Postgres through Prisma, whose engines are fetched at run time.

Keys: the proxy reads `keys.json` from the mounted Secret `greenzone-gateway-keys`, which holds one
entry per tenant (every department and the chat UI): the sha256 of its key, never the key itself,
and its limits. Kubernetes swaps a mounted Secret atomically, so a rotated key is taken up within
the kubelet's sync period without a restart. The tenant becomes LiteLLM's team, which is what its
Prometheus metrics and its rate limiter key on.

Audit: one JSON line per request (who, when, model, token counts, status), never the prompt or the
answer: `litellm_settings.turn_off_message_logging` keeps them out of every callback's payload too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from litellm.integrations.custom_logger import CustomLogger
from litellm.proxy._types import ProxyException, UserAPIKeyAuth

KEYS_FILE = os.environ.get("GREENZONE_GATEWAY_KEYS", "/etc/greenzone/gateway-keys/keys.json")
LIMITS_FILE = os.environ.get("GREENZONE_GATEWAY_LIMITS", "/etc/greenzone/gateway/tenants.json")
AUDIT_DIR = os.environ.get("GREENZONE_AUDIT_DIR", "/var/log/greenzone-audit")
USER_HEADER = os.environ.get("GREENZONE_USER_HEADER", "x-openwebui-user-email")

API_PATHS = frozenset(
    f"{prefix}/{name}" for prefix in ("", "/v1") for name in ("chat/completions", "completions", "embeddings", "models")
)
"""What a department or the chat UI may call: the OpenAI-compatible inference API, nothing of the
proxy's administration (whose routes would otherwise fall to LiteLLM's own checks)."""

METRICS_PATHS = frozenset({"/metrics", "/metrics/"})
"""What only the monitoring tenant may call (Prometheus's scrape; it also makes `greenzone health`'s
one-token requests): the metrics name every department and its volume."""


def _stamp(path: Path) -> tuple[float, int, int]:
    try:
        stat = path.stat()
    except FileNotFoundError:
        return (0.0, 0, 0)
    return (stat.st_mtime, stat.st_ino, stat.st_size)


class _Tenants:
    """Tenants by key digest with their limits, re-read when either mounted file changes."""

    def __init__(self, keys: str, limits: str) -> None:
        self.keys, self.limits = Path(keys), Path(limits)
        self.stamp: tuple[object, ...] | None = None
        self.by_digest: dict[str, dict[str, Any]] = {}
        self.lock = threading.Lock()

    def _load(self) -> None:
        tenants = json.loads(self.keys.read_text(encoding="utf-8"))["tenants"]
        limits: dict[str, dict[str, Any]] = {}
        if self.limits.exists():
            limits = {entry["name"]: entry for entry in json.loads(self.limits.read_text(encoding="utf-8"))["tenants"]}
        self.by_digest = {
            tenant["sha256"]: {
                **tenant,
                "rpm": limits.get(tenant["name"], {}).get("requestsPerMinute"),
                "tpm": limits.get(tenant["name"], {}).get("tokensPerMinute"),
            }
            for tenant in tenants
        }

    def lookup(self, key: str) -> dict[str, Any] | None:
        digest = hashlib.sha256(key.encode()).hexdigest()
        with self.lock:
            stamp = (_stamp(self.keys), _stamp(self.limits))
            if stamp != self.stamp:
                self._load()
                self.stamp = stamp
            for known, tenant in self.by_digest.items():
                if hmac.compare_digest(known, digest):
                    return tenant
        return None


_TENANTS = _Tenants(KEYS_FILE, LIMITS_FILE)


def _refuse(code: int, message: str) -> ProxyException:
    return ProxyException(message=message, type="auth_error", param="api_key", code=code)


async def user_api_key_auth(request: Request, api_key: str) -> UserAPIKeyAuth:
    """`general_settings.custom_auth`: a known key becomes its tenant (401 otherwise), on its own paths
    only (403 otherwise)."""
    key = (api_key or "").removeprefix("Bearer ").strip()
    tenant = _TENANTS.lookup(key) if key else None
    if tenant is None:
        raise _refuse(401, "unknown or missing API key: ask the appliance's administrator for your department's key")
    name = tenant["name"]
    allowed = API_PATHS | METRICS_PATHS if tenant.get("role") == "monitoring" else API_PATHS
    if request.url.path not in allowed:
        raise _refuse(403, f"the key of {name!r} may not call {request.url.path}")
    return UserAPIKeyAuth(
        api_key=hashlib.sha256(key.encode()).hexdigest(),
        key_alias=name,
        team_id=name,
        team_alias=name,
        rpm_limit=tenant.get("rpm"),
        tpm_limit=tenant.get("tpm"),
        team_rpm_limit=tenant.get("rpm"),
        team_tpm_limit=tenant.get("tpm"),
    )


def _header(headers: Any, name: str) -> str:
    if not isinstance(headers, dict):
        return ""
    for key, value in headers.items():
        if str(key).lower() == name:
            return str(value)
    return ""


class AuditTrail(CustomLogger):
    """Appends one JSON line per finished request to `AUDIT_DIR/audit-<pod>-<day>.jsonl`."""

    def __init__(self) -> None:
        super().__init__()
        self.lock = threading.Lock()
        self.pod = socket.gethostname()

    def _write(self, record: dict[str, Any]) -> None:
        day = record["time"][:10]
        path = Path(AUDIT_DIR) / f"audit-{self.pod}-{day}.jsonl"
        line = json.dumps(record, sort_keys=True) + "\n"
        with self.lock:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)

    def _record(self, kwargs: dict[str, Any], status: str, start: Any, end: Any, error: str = "") -> dict[str, Any]:
        payload = kwargs.get("standard_logging_object") or {}
        metadata = payload.get("metadata") or {}
        headers = ((kwargs.get("litellm_params") or {}).get("proxy_server_request") or {}).get("headers")
        seconds = end.timestamp() - start.timestamp() if hasattr(end, "timestamp") else 0.0
        department = metadata.get("user_api_key_team_id") or ""
        return {
            "time": datetime.now(UTC).isoformat(timespec="milliseconds"),
            "department": department,
            # Only the chat UI forwards a user it authenticated; anything else a caller claims is not kept.
            "user": (payload.get("end_user") or _header(headers, USER_HEADER)) if department == "chat-ui" else "",
            "model": payload.get("model_group") or payload.get("model") or kwargs.get("model") or "",
            "prompt_tokens": int(payload.get("prompt_tokens") or 0),
            "completion_tokens": int(payload.get("completion_tokens") or 0),
            "status": status,
            "error": error[:200],
            "stream": bool(kwargs.get("stream")),
            "seconds": round(seconds, 3),
            "request_id": payload.get("id") or "",
        }

    async def async_log_success_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        self._write(self._record(kwargs, "success", start_time, end_time))

    async def async_log_failure_event(
        self, kwargs: dict[str, Any], response_obj: Any, start_time: Any, end_time: Any
    ) -> None:
        payload = kwargs.get("standard_logging_object") or {}
        information = payload.get("error_information") or {}
        error = str(information.get("error_class") or "error")
        code = str(information.get("error_code") or "")
        refused = "refused" if code in ("401", "403") else "failure"
        status = "rate-limited" if code == "429" or "RateLimit" in error else refused
        self._write(self._record(kwargs, status, start_time, end_time, error))


audit_trail = AuditTrail()

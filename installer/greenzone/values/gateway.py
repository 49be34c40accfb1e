"""The inference gateway's tenants, keys and limits, derived from the answers (pure).

Every department, the chat UI and Prometheus's scrape are tenants of the gateway (LiteLLM's proxy,
see charts/greenzone-inference/files/gateway/). Each has a key, generated at install into the
0600 credentials file as `gateway_key_<tenant>`; the gateway itself holds only their sha256 digests
(Secret `greenzone-gateway-keys`), and each department's own key lives in a Secret of its namespace
(`greenzone-gateway-key`), which is how its applications find it. Limits are not secret: they go
through the chart's values, so `greenzone values` and `parity` show them.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import string
from collections.abc import Mapping
from typing import Any

from greenzone.answers.model import Answers
from greenzone.answers.rules import GATEWAY_TENANTS

PORT = 4000
SERVICE = "greenzone-inference-gateway"
"""The gateway's Service in the inference namespace (the chart's fullname is the release name)."""

CHAT_UI = "chat-ui"
MONITORING = "monitoring"
assert set(GATEWAY_TENANTS) == {CHAT_UI, MONITORING}

KEYS_SECRET = "greenzone-gateway-keys"
"""key keys.json: every tenant's name, role and key digest (inference namespace)."""
MASTER_SECRET = "greenzone-gateway-master"
"""key LITELLM_MASTER_KEY: LiteLLM refuses to start without one; no tenant is given it."""
CHAT_UI_SECRET = "greenzone-gateway-chat-ui"
"""key OPENAI_API_KEY: the chat UI's key (inference namespace)."""
MONITORING_SECRET = "greenzone-gateway-monitoring"
"""key token: the bearer token Prometheus's scrape of the gateway uses (inference namespace)."""
DEPARTMENT_SECRET = "greenzone-gateway-key"
"""keys api-key and base-url, in each department's namespace."""

MASTER_CREDENTIAL = "gateway_master_key"
KEY_PREFIX = "gateway_key_"


def credential_name(tenant: str) -> str:
    return f"{KEY_PREFIX}{tenant}"


def new_key() -> str:
    """`sk-` and 48 random letters and digits (285 bits): the shape OpenAI SDKs and LiteLLM expect."""
    alphabet = string.ascii_letters + string.digits
    return "sk-" + "".join(secrets.choice(alphabet) for _ in range(48))


def tenant_names(answers: Answers) -> list[str]:
    return [department.name for department in answers.departments] + [CHAT_UI, MONITORING]


def base_url(namespace: str) -> str:
    return f"http://{SERVICE}.{namespace}.svc:{PORT}/v1"


def gateway_values(answers: Answers) -> dict[str, Any]:
    """The chart's `gateway` values: limits per tenant, the forwarded-user header, nothing secret."""
    return {
        "port": PORT,
        "keysSecret": KEYS_SECRET,
        "masterKeySecret": MASTER_SECRET,
        "chatUiKeySecret": CHAT_UI_SECRET,
        "monitoringTokenSecret": MONITORING_SECRET,
        "tenants": [
            {
                "name": department.name,
                "namespace": department.namespace_name,
                "requestsPerMinute": department.requests_per_minute,
                "tokensPerMinute": department.tokens_per_minute,
            }
            for department in answers.departments
        ],
    }


def tenant_keys(credentials: Mapping[str, str]) -> dict[str, str]:
    """Tenant -> key, from every `gateway_key_*` credential."""
    return {name.removeprefix(KEY_PREFIX): value for name, value in credentials.items() if name.startswith(KEY_PREFIX)}


def keys_document(credentials: Mapping[str, str]) -> str:
    """keys.json for the gateway: each tenant's key digest, from every `gateway_key_*` credential."""
    tenants = []
    for tenant, value in sorted(tenant_keys(credentials).items()):
        role = tenant if tenant in (CHAT_UI, MONITORING) else "department"
        tenants.append({"name": tenant, "role": role, "sha256": hashlib.sha256(value.encode()).hexdigest()})
    return json.dumps({"tenants": tenants}, indent=1, sort_keys=True) + "\n"

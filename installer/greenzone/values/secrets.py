"""Names of the Secrets the installer creates before the releases that read them.

Values only ever name a Secret, never hold its content: the values files are written to disk,
shown in the TUI's review screen and compared by `greenzone parity`, and none of those may carry a
password. The Ansible roles create these Secrets (mode-0600 sources, `no_log`) before each release.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from greenzone.values import gateway

HARBOR_ADMIN = "greenzone-harbor-admin"
"""key HARBOR_ADMIN_PASSWORD: Harbor's admin password (from the answers' file/env or generated)."""

HARBOR_CORE = "greenzone-harbor-core"
"""keys secretKey (16 characters, encrypts Harbor's stored credentials), secret, CSRF_KEY."""

HARBOR_JOBSERVICE = "greenzone-harbor-jobservice"
"""key JOBSERVICE_SECRET."""

HARBOR_REGISTRY = "greenzone-harbor-registry"
"""key REGISTRY_HTTP_SECRET."""

HARBOR_REGISTRY_CREDENTIALS = "greenzone-harbor-registry-credentials"
"""keys REGISTRY_PASSWD and REGISTRY_HTPASSWD (bcrypt) used between Harbor's core and registry."""

REGISTRY_TLS = "greenzone-registry-tls"
"""kubernetes.io/tls Secret of the registry host name (self-signed CA or the provided files)."""

INGRESS_TLS = "greenzone-tls"
"""kubernetes.io/tls Secret of `network.hostname` for the chat UI."""

GRAFANA_ADMIN = "greenzone-grafana-admin"
"""keys admin-user and admin-password."""

CHAT_UI = "greenzone-chat-ui"
"""key WEBUI_SECRET_KEY: signs the chat UI's sessions."""

GATEWAY_KEYS = gateway.KEYS_SECRET
GATEWAY_MASTER = gateway.MASTER_SECRET
GATEWAY_CHAT_UI = gateway.CHAT_UI_SECRET
GATEWAY_MONITORING = gateway.MONITORING_SECRET
DEPARTMENT_KEY = gateway.DEPARTMENT_SECRET

ALL = (
    HARBOR_ADMIN,
    HARBOR_CORE,
    HARBOR_JOBSERVICE,
    HARBOR_REGISTRY,
    HARBOR_REGISTRY_CREDENTIALS,
    REGISTRY_TLS,
    INGRESS_TLS,
    GRAFANA_ADMIN,
    CHAT_UI,
    GATEWAY_KEYS,
    GATEWAY_MASTER,
    GATEWAY_CHAT_UI,
    GATEWAY_MONITORING,
    DEPARTMENT_KEY,
)

# Which Secrets each release reads, and from which credential the installer fills each key.
# The credential names are the keys of the installer's 0600 credentials file (deploy/credentials.py).
_HARBOR = {
    HARBOR_ADMIN: {"HARBOR_ADMIN_PASSWORD": "harbor_admin_password"},
    HARBOR_CORE: {"secretKey": "harbor_secret_key", "secret": "harbor_core_secret", "CSRF_KEY": "harbor_csrf_key"},
    HARBOR_JOBSERVICE: {"JOBSERVICE_SECRET": "harbor_jobservice_secret"},
    HARBOR_REGISTRY: {"REGISTRY_HTTP_SECRET": "harbor_registry_http_secret"},
    HARBOR_REGISTRY_CREDENTIALS: {
        "REGISTRY_PASSWD": "harbor_registry_password",
        "REGISTRY_HTPASSWD": "harbor_registry_htpasswd",
    },
    REGISTRY_TLS: {"tls.crt": "registry_tls_crt", "tls.key": "registry_tls_key", "ca.crt": "ca_crt"},
}
_INGRESS = {INGRESS_TLS: {"tls.crt": "ingress_tls_crt", "tls.key": "ingress_tls_key"}}
SECRETS_OF_RELEASE: dict[str, dict[str, dict[str, str]]] = {
    "harbor": _HARBOR,
    "monitoring": {GRAFANA_ADMIN: {"admin-user": "grafana_admin_user", "admin-password": "grafana_admin_password"}}
    | _INGRESS,
    "greenzone-inference": {
        CHAT_UI: {"WEBUI_SECRET_KEY": "chat_ui_secret_key"},
        GATEWAY_MASTER: {"LITELLM_MASTER_KEY": gateway.MASTER_CREDENTIAL},
        GATEWAY_CHAT_UI: {"OPENAI_API_KEY": gateway.credential_name(gateway.CHAT_UI)},
        GATEWAY_MONITORING: {"token": gateway.credential_name(gateway.MONITORING)},
    }
    | _INGRESS,
}
TLS_SECRETS = (REGISTRY_TLS, INGRESS_TLS)


def _secret(name: str, namespace: str, data: Mapping[str, str]) -> dict[str, object]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app.kubernetes.io/managed-by": "greenzone"}},
        "type": "kubernetes.io/tls" if name in TLS_SECRETS else "Opaque",
        "stringData": dict(data),
    }


def secret_manifests(release: str, namespace: str, credentials: dict[str, str]) -> list[dict[str, object]]:
    """The Secret objects `release` reads, filled from `credentials` (stringData: the API encodes it)."""
    manifests: list[dict[str, object]] = []
    for name, keys in SECRETS_OF_RELEASE.get(release, {}).items():
        missing = [source for source in keys.values() if not credentials.get(source)]
        if missing:
            raise KeyError(f"the credentials file has no {', '.join(missing)} (needed by Secret {name})")
        manifests.append(_secret(name, namespace, {key: credentials[source] for key, source in keys.items()}))
    if release == "greenzone-inference":
        manifests.append(gateway_keys_manifest(namespace, credentials))
    return manifests


def gateway_keys_manifest(namespace: str, credentials: Mapping[str, str]) -> dict[str, object]:
    """The gateway's Secret: every tenant's key digest, from the `gateway_key_*` credentials."""
    return _secret(GATEWAY_KEYS, namespace, {"keys.json": gateway.keys_document(credentials)})


def department_key_manifests(
    departments: Sequence[Mapping[str, Any]], gateway_namespace: str, credentials: Mapping[str, str]
) -> list[dict[str, object]]:
    """Each department's key and the gateway's address, in a Secret of the department's namespace
    (`departments`: the guardrails values' entries, with `name` and `namespace`). Written after the
    guardrails release, which creates those namespaces."""
    manifests: list[dict[str, object]] = []
    for department in departments:
        source = gateway.credential_name(str(department["name"]))
        if not credentials.get(source):
            raise KeyError(f"the credentials file has no {source} (needed by Secret {DEPARTMENT_KEY})")
        data = {"api-key": credentials[source], "base-url": gateway.base_url(gateway_namespace)}
        manifests.append(_secret(DEPARTMENT_KEY, str(department["namespace"]), data))
    return manifests

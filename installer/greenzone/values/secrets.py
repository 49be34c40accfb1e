"""Names of the Secrets the installer creates before the releases that read them.

Values only ever name a Secret, never hold its content: the values files are written to disk,
shown in the TUI's review screen and compared by `greenzone parity`, and none of those may carry a
password. The Ansible roles create these Secrets (mode-0600 sources, `no_log`) before each release.
"""

from __future__ import annotations

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
    "greenzone-inference": {CHAT_UI: {"WEBUI_SECRET_KEY": "chat_ui_secret_key"}} | _INGRESS,
}
TLS_SECRETS = (REGISTRY_TLS, INGRESS_TLS)


def secret_manifests(release: str, namespace: str, credentials: dict[str, str]) -> list[dict[str, object]]:
    """The Secret objects `release` reads, filled from `credentials` (stringData: the API encodes it)."""
    manifests: list[dict[str, object]] = []
    for name, keys in SECRETS_OF_RELEASE.get(release, {}).items():
        missing = [source for source in keys.values() if not credentials.get(source)]
        if missing:
            raise KeyError(f"the credentials file has no {', '.join(missing)} (needed by Secret {name})")
        manifests.append(
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "metadata": {
                    "name": name,
                    "namespace": namespace,
                    "labels": {"app.kubernetes.io/managed-by": "greenzone"},
                },
                "type": "kubernetes.io/tls" if name in TLS_SECRETS else "Opaque",
                "stringData": {key: credentials[source] for key, source in keys.items()},
            }
        )
    return manifests

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

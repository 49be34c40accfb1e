"""Values for Harbor's chart: one appliance-local registry behind k3s's Traefik or a NodePort.

Keys checked against the harbor chart 1.19.1 (goharbor/harbor-helm `values.yaml` and
`templates/` at tag v1.19.1, app version v2.15.1).

Every credential the chart can read from an existing Secret is read from one (see `secrets.py`).
The internal database's superuser password has no such key in 1.19.1 (`database.internal.password`
is inline only), so the harbor role passes it at install time from a 0600 file; it never appears in
these values.
"""

from __future__ import annotations

from typing import Any

from greenzone.answers.model import Answers
from greenzone.values import secrets

CHART_VERSION = "1.19.1"
STORAGE_CLASS = "local-path"  # k3s's bundled local-path-provisioner


def harbor_values(answers: Answers) -> dict[str, Any]:
    hostname = answers.registry_hostname()
    port = answers.registry.port
    external = f"https://{hostname}" if port == 443 else f"https://{hostname}:{port}"
    # Port 443 goes through the ingress k3s ships (Traefik sets no body-size limit, so large layers
    # pass); any other port is served straight off a NodePort.
    expose: dict[str, Any] = {
        "tls": {"enabled": True, "certSource": "secret", "secret": {"secretName": secrets.REGISTRY_TLS}}
    }
    if port == 443:
        expose |= {"type": "ingress", "ingress": {"hosts": {"core": hostname}, "className": "traefik"}}
    else:
        expose |= {"type": "nodePort", "nodePort": {"ports": {"https": {"port": 443, "nodePort": port}}}}

    def claim(size: str) -> dict[str, Any]:
        return {"storageClass": STORAGE_CLASS, "accessMode": "ReadWriteOnce", "size": size}

    return {
        "expose": expose,
        "externalURL": external,
        "persistence": {
            "enabled": True,
            "resourcePolicy": "keep",
            "persistentVolumeClaim": {
                "registry": claim("200Gi"),
                "jobservice": {"jobLog": claim("1Gi")},
                "database": claim("5Gi"),
                "redis": claim("1Gi"),
            },
            "imageChartStorage": {"type": "filesystem", "disableredirect": True},
        },
        "existingSecretAdminPassword": secrets.HARBOR_ADMIN,
        "existingSecretAdminPasswordKey": "HARBOR_ADMIN_PASSWORD",
        "existingSecretSecretKey": secrets.HARBOR_CORE,
        "core": {
            "existingSecret": secrets.HARBOR_CORE,
            "existingXsrfSecret": secrets.HARBOR_CORE,
            "existingXsrfSecretKey": "CSRF_KEY",
        },
        "jobservice": {"existingSecret": secrets.HARBOR_JOBSERVICE, "existingSecretKey": "JOBSERVICE_SECRET"},
        "registry": {
            "existingSecret": secrets.HARBOR_REGISTRY,
            "existingSecretKey": "REGISTRY_HTTP_SECRET",
            "credentials": {"existingSecret": secrets.HARBOR_REGISTRY_CREDENTIALS},
        },
        # The scanner would fetch its vulnerability database from the internet; there is none.
        "trivy": {"enabled": False},
        # Off: it would add the harbor-exporter image; `greenzone health` watches Harbor's health API instead.
        "metrics": {"enabled": False},
        # Nothing leaves the appliance, so no proxy; the IPv6 listener is off for IPv4-only sites.
        "proxy": {"httpProxy": None, "httpsProxy": None},
        "ipFamily": {"ipv6": {"enabled": False}},
        "updateStrategy": {"type": "Recreate"},
    }

"""The Harbor API adapter: the one call the install needs beyond the registry API.

Harbor refuses pushes into a project that does not exist, so the mirror projects (one per upstream
registry: `docker.io`, `nvcr.io`...) are created first. They are public: inside the green zone the
images are not secret, and public projects let containerd pull without a credential on every node.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from pathlib import Path

from greenzone.bundle.registry import Credentials, RegistryError


def ensure_projects(base_url: str, names: list[str], credentials: Credentials, *, ca_file: Path | None) -> list[str]:
    """Create the public projects `names` that do not exist yet; returns those created."""
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))
    auth = credentials.basic_auth()
    created = []
    for name in names:
        probe = urllib.request.Request(f"{base_url}/api/v2.0/projects?project_name={name}", method="HEAD")
        probe.add_header("Authorization", auth)
        try:
            with opener.open(probe, timeout=20):
                continue
        except urllib.error.HTTPError as error:
            if error.code != 404:
                raise RegistryError(
                    f"Harbor at {base_url} answered HTTP {error.code} when asked for project {name}",
                    hint="check that Harbor runs (`greenzone health`) and the admin password",
                ) from None
        except urllib.error.URLError as error:
            raise RegistryError(f"cannot reach Harbor at {base_url}: {error.reason}", hint="check Harbor") from None
        body = json.dumps({"project_name": name, "metadata": {"public": "true"}}).encode()
        create = urllib.request.Request(f"{base_url}/api/v2.0/projects", data=body, method="POST")
        create.add_header("Authorization", auth)
        create.add_header("Content-Type", "application/json")
        try:
            with opener.open(create, timeout=20):
                created.append(name)
        except urllib.error.HTTPError as error:
            raise RegistryError(
                f"Harbor at {base_url} refused to create project {name}: HTTP {error.code}",
                hint="check the admin password in the credentials file",
            ) from None
    return created

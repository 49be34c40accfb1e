"""The Harbor API adapter: the one call the install needs beyond the registry API.

Harbor refuses pushes into a project that does not exist, so the mirror projects (one per upstream
registry: `docker.io`, `nvcr.io`...) are created first. They are public: inside the green zone the
images are not secret, and public projects let containerd pull without a credential on every node.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from greenzone.bundle.registry import Credentials, RegistryError


def ensure_projects(base_url: str, names: list[str], credentials: Credentials, *, ca_file: Path | None) -> list[str]:
    """Create the public projects `names` that do not exist yet; returns those created."""
    opener = _opener(ca_file)
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


def _opener(ca_file: Path | None) -> urllib.request.OpenerDirector:
    context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context))


def artifact_path(repository: str, digest: str) -> str:
    """Harbor's API path of one artifact. `repository` is Harbor's (`docker.io/ollama/ollama`): its
    first part is the project, the rest the repository name, which the API wants URL-encoded twice
    when it holds a slash (Harbor's swagger, `repository_name`)."""
    project, _, name = repository.partition("/")
    encoded = urllib.parse.quote(urllib.parse.quote(name, safe=""), safe="")
    return f"/api/v2.0/projects/{urllib.parse.quote(project, safe='')}/repositories/{encoded}/artifacts/{digest}"


def delete_artifacts(
    base_url: str, artifacts: list[tuple[str, str]], credentials: Credentials, *, ca_file: Path | None
) -> dict[str, list[str]]:
    """Delete each (Harbor repository, digest) by digest; returns them as `deleted`, `gone` (404) and
    `kept` (412: another artifact, such as an index, still references it, or a tag is immutable; Harbor
    v2.15 `src/controller/artifact/controller.go`). The blobs stay until a garbage collection."""
    opener = _opener(ca_file)
    outcome: dict[str, list[str]] = {"deleted": [], "gone": [], "kept": []}
    for repository, digest in artifacts:
        request = urllib.request.Request(f"{base_url}{artifact_path(repository, digest)}", method="DELETE")
        request.add_header("Authorization", credentials.basic_auth())
        name = f"{repository}@{digest}"
        try:
            with opener.open(request, timeout=20):
                outcome["deleted"].append(name)
        except urllib.error.HTTPError as error:
            if error.code in (404, 412):
                outcome["gone" if error.code == 404 else "kept"].append(name)
                continue
            raise RegistryError(
                f"Harbor at {base_url} refused to delete {name}: HTTP {error.code}",
                hint="check the admin password in the credentials file and that Harbor runs (`greenzone health`)",
            ) from None
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise RegistryError(f"cannot reach Harbor at {base_url}: {reason}", hint="check Harbor") from None
    return outcome


def _call(opener: urllib.request.OpenerDirector, request: urllib.request.Request, base_url: str) -> Any:
    try:
        with opener.open(request, timeout=20) as answer:
            body = answer.read()
            return answer.headers, json.loads(body) if body.strip() else None
    except urllib.error.HTTPError as error:
        raise RegistryError(
            f"Harbor at {base_url} answered HTTP {error.code} to {request.get_method()} {request.selector}",
            hint="a garbage collection needs Harbor's system administrator: check the admin password",
        ) from None
    except (urllib.error.URLError, OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise RegistryError(f"cannot reach Harbor at {base_url}: {reason}", hint="check Harbor") from None


def collect_garbage(
    base_url: str, credentials: Credentials, *, ca_file: Path | None, wait: float = 60.0, poll: float = 2.0
) -> tuple[str, int | None]:
    """One garbage collection now, then its result for up to `wait` seconds: (status, bytes freed).

    Harbor v2.15 (`api/v2.0/swagger.yaml`, `handler/gc.go`): `POST /system/gc/schedule` with type
    Manual answers 201 and the run's address in `Location`; the run ends as `Success` with
    `freed_space` in its `job_parameters`. Harbor only frees blobs unreferenced for 2 hours (its safety
    window), so what a push replaced minutes ago is freed by a later collection."""
    import time

    opener = _opener(ca_file)
    auth = credentials.basic_auth()
    # delete_untagged stays false: the artifacts deleted through the API lose their blobs all the same,
    # while untagged artifacts the site pushed itself (by digest) are not greenzone's to delete.
    body = json.dumps({"schedule": {"type": "Manual"}, "parameters": {"delete_untagged": False, "workers": 1}})
    start = urllib.request.Request(f"{base_url}/api/v2.0/system/gc/schedule", data=body.encode(), method="POST")
    start.add_header("Authorization", auth)
    start.add_header("Content-Type", "application/json")
    headers, _ = _call(opener, start, base_url)
    location = headers.get("Location", "")
    if not location:
        return "started", None
    deadline = time.monotonic() + wait
    status = "Pending"
    while time.monotonic() < deadline:
        ask = urllib.request.Request(f"{base_url}{location}" if location.startswith("/") else location)
        ask.add_header("Authorization", auth)
        _, run = _call(opener, ask, base_url)
        status = str((run or {}).get("job_status", "Pending"))
        if status in ("Success", "Error", "Stopped"):
            try:
                freed = json.loads((run or {}).get("job_parameters") or "{}").get("freed_space")
            except ValueError:
                freed = None
            return status, int(freed) if isinstance(freed, (int, float)) else None
        time.sleep(poll)
    return status, None

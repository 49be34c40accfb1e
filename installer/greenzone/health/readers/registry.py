"""Harbor as health sees it: the OCI API, Harbor's own health API, its projects, and each image of
the bundle by digest (HEAD requests only; nothing is pulled)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from greenzone.bundle.registry import Credentials, Registry
from greenzone.deploy.credentials import load_credentials
from greenzone.health.observed import ImagePresence, RegistryView
from greenzone.health.readers.deadline import Deadline
from greenzone.health.readers.http import request, tls_context
from greenzone.health.targets import ExpectedImage, Targets

CALL_TIMEOUT = 3.0
PARALLEL = 8


def harbor_credentials(targets: Targets) -> Credentials | None:
    """Harbor's admin account from the installer's credentials file, when it is there."""
    stored = load_credentials(targets.credentials_file) if targets.credentials_file.is_file() else {}
    password = stored.get("harbor_admin_password")
    return Credentials("admin", password) if password else None


def read_registry(targets: Targets, deadline: Deadline) -> RegistryView:
    base = targets.registry_url
    context = tls_context(targets.ca_file)
    with ThreadPoolExecutor(2) as pool:
        asked = [
            pool.submit(request, f"{base}{path}", timeout=deadline.timeout(CALL_TIMEOUT), context=context)
            for path in ("/v2/", "/api/v2.0/health")
        ]
        api, harbor = (future.result() for future in asked)
    if not api.answered:
        return RegistryView(base, api, harbor)
    credentials = harbor_credentials(targets)
    headers = {"Authorization": credentials.basic_auth()} if credentials else {}
    projects: dict[str, bool | None] = {}
    if harbor.answered and harbor.status != 404:
        for name in targets.harbor_projects:
            probe = request(
                f"{base}/api/v2.0/projects?project_name={name}",
                method="HEAD",
                headers=headers,
                timeout=deadline.timeout(CALL_TIMEOUT),
                context=context,
            )
            projects[name] = True if probe.status == 200 else False if probe.status == 404 else None
    registry = Registry(
        base,
        credentials=credentials,
        ca_file=targets.ca_file if targets.ca_file.is_file() else None,
        timeout=deadline.timeout(CALL_TIMEOUT),
    )

    def presence(image: ExpectedImage) -> ImagePresence:
        if deadline.expired:
            return ImagePresence(image.ref, image.repository, image.digest, None, "the run's budget was spent")
        # The client's one timeout follows the budget down; threads racing on it all set a value
        # no larger than what is left, so no request outlives the run by more than a moment.
        registry.timeout = deadline.timeout(CALL_TIMEOUT)
        try:
            found = registry.has_manifest(image.repository, image.digest)
        except Exception as error:  # RegistryError, or a socket error the client did not wrap
            return ImagePresence(image.ref, image.repository, image.digest, None, str(error)[:200])
        return ImagePresence(image.ref, image.repository, image.digest, found)

    with ThreadPoolExecutor(PARALLEL) as pool:
        images = tuple(pool.map(presence, targets.images))
    return RegistryView(base, api, harbor, projects, images)

"""The pyhelm3 adapter: find the helm binary, render a chart into plain dicts.

Rendering is `helm template` underneath, so what we list and check is exactly what helm would
install; nothing here interprets templates itself.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Coroutine, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from greenzone import peers
from greenzone.errors import EnvironmentProblem, InputError
from greenzone.statedir import StateDir

T = TypeVar("T")


def find_helm(given: Path | None = None, state: StateDir | None = None) -> Path:
    """`--helm`, else helm on PATH, else the one an install unpacked from the bundle into the state
    directory; never a path inside a source checkout (a site runs the installed wheel)."""
    candidates = [given] if given else []
    on_path = shutil.which("helm")
    candidates += [Path(on_path)] if on_path else []
    candidates.append((state or StateDir.locate()).helm)
    for candidate in candidates:
        if candidate and candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise EnvironmentProblem(
        "helm is needed to render charts and was not found",
        hint="put helm on PATH or pass --helm PATH (a checkout's `.ci/setup` puts one in tools/bin)",
    )


async def _template(
    helm: Path, chart: Path, release: str, namespace: str, values: Mapping[str, Any], include_crds: bool
) -> list[dict[str, Any]]:
    from pyhelm3 import Client  # imported here: `bundle build` needs find_helm, not pyhelm3

    client = Client(executable=str(helm))
    loaded = await client.get_chart(chart)
    rendered = await client.template_resources(
        loaded, release, dict(values), namespace=namespace, include_crds=include_crds
    )
    return [dict(resource) for resource in rendered if resource]


def render(
    chart: Path,
    release: str,
    namespace: str,
    values: Mapping[str, Any],
    *,
    helm: Path | None = None,
    include_crds: bool = False,
) -> list[dict[str, Any]]:
    """Every object `helm template` produces for this chart and these values (hooks and tests included;
    the chart's CRDs too with `include_crds`, as a GitOps tool needs them)."""
    from pyhelm3.errors import Error as HelmError

    try:
        return asyncio.run(_template(find_helm(helm), chart, release, namespace, values, include_crds))
    except HelmError as error:
        message = str(error).strip() or type(error).__name__
        raise InputError(
            f"helm cannot render {chart} for release {release}: {message}",
            hint="run `helm lint` on the chart with the same values; a values.schema.json error names the key",
        ) from None


async def deployed(client: Any, release: str, namespace: str) -> tuple[dict[str, Any] | None, Any]:
    """The current revision as `deploy.workloads.release_action` reads it ({status, chart_version,
    values}) and its chart metadata; (None, None) when the release does not exist."""
    from pyhelm3.errors import ReleaseNotFoundError

    try:
        revision = await client.get_current_revision(release, namespace=namespace)
    except ReleaseNotFoundError:
        return None, None
    metadata = await revision.chart_metadata()
    current = {
        "status": getattr(revision.status, "value", revision.status),
        "chart_version": metadata.version,
        "values": await revision.values(),
    }
    return current, metadata


def run_bounded(work: Coroutine[Any, Any, T], timeout: str, peer: str, doing: str) -> T:
    """Run a helm conversation with the cluster to completion, but never longer than helm's own
    `--timeout` plus a grace: helm's calls to the API server have no timeout, so a server that accepts
    and never answers would hold it (and greenzone) forever. Cancelling terminates the helm process."""
    bound = peers.duration_seconds(timeout) + peers.HELM_GRACE
    expired = False

    async def bounded() -> T:
        nonlocal expired
        deadline = asyncio.timeout(bound)
        try:
            async with deadline:
                return await work
        finally:
            expired = deadline.expired()

    try:
        return asyncio.run(bounded())
    except TimeoutError:
        if not expired:  # a timeout inside helm's own conversation, not this bound: let it be what it is
            raise
        raise peers.silent(
            peer, bound, doing, "check that the Kubernetes API server answers (`kubectl get --raw /readyz`)"
        ) from None


async def _revisions(client: Any, releases: Sequence[tuple[str, str]]) -> list[tuple[str, str, int, str] | None]:
    async def one(name: str, namespace: str) -> tuple[str, str, int, str] | None:
        from pyhelm3.errors import ReleaseNotFoundError

        try:
            revision = await client.get_current_revision(name, namespace=namespace)
        except ReleaseNotFoundError:
            return None
        metadata = await revision.chart_metadata()
        return name, namespace, int(revision.revision), str(metadata.version)

    return list(await asyncio.gather(*(one(name, namespace) for name, namespace in releases)))


def deployed_revisions(
    helm: Path, kubeconfig: Path, releases: Sequence[tuple[str, str]], timeout: str = "60s"
) -> list[tuple[str, str, int, str] | None]:
    """(release, namespace, revision, chart version) of each deployed release, None where it is not
    installed: what an upgrade records so that `greenzone rollback` can return to it."""
    from pyhelm3 import Client

    from greenzone.cluster.kube import api_server

    client = Client(executable=str(helm), kubeconfig=kubeconfig)
    return run_bounded(
        _revisions(client, releases), timeout, f"the Kubernetes API at {api_server(kubeconfig)}", "helm status"
    )


async def _rollback(client: Any, name: str, namespace: str, revision: int | None, timeout: str) -> None:
    if revision is None:
        await client.uninstall_release(name, namespace=namespace, wait=True, timeout=timeout)
        return
    current = await client.get_current_revision(name, namespace=namespace)
    await current.release.rollback(revision, wait=True, timeout=timeout, cleanup_on_fail=True)


def rollback_release(
    helm: Path, kubeconfig: Path, name: str, namespace: str, revision: int | None, timeout: str
) -> None:
    """`helm rollback NAME REVISION --wait` (or an uninstall when the release did not exist before)."""
    from pyhelm3 import Client

    from greenzone.cluster.kube import api_server

    client = Client(executable=str(helm), kubeconfig=kubeconfig)
    run_bounded(
        _rollback(client, name, namespace, revision, timeout),
        timeout,
        f"the Kubernetes API at {api_server(kubeconfig)}",
        f"helm rollback of {name}",
    )

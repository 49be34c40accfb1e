"""One side as a live cluster runs it: Helm's release records and the pods' image digests.

Helm keeps each release revision in a Secret (`owner=helm`, data `release` = base64 of gzipped JSON
holding the chart's metadata, the user-supplied values and the applied manifest). Reading those
Secrets with the Kubernetes client gives chart, version, values and workloads in one list call, with
no helm binary and no tiller-era API; the digests come from the pods' `status.containerStatuses`.
"""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, cast

import yaml

from greenzone import peers, yamlpos
from greenzone.errors import EnvironmentProblem
from greenzone.refs import qualify
from greenzone.sync.mirror import split_digest
from greenzone.sync.views import ReleaseView, SideView, containers_of

CALL_TIMEOUT = peers.API_CALL


def decode_release(data: str) -> dict[str, Any]:
    """Helm's storage encoding of one revision (Secret data is base64 once more on top of it)."""
    raw = base64.b64decode(base64.b64decode(data))
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    decoded: dict[str, Any] = json.loads(raw)
    return decoded


def encode_release(record: Mapping[str, Any]) -> str:
    """The inverse, as Helm writes it; tests build Secrets with it."""
    return base64.b64encode(base64.b64encode(gzip.compress(json.dumps(record).encode()))).decode()


def pod_digests(pods: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """(namespace, image as the spec writes it) -> the digest the kubelet pulled (`imageID`)."""
    found = {}
    for pod in pods:
        namespace = (pod.get("metadata") or {}).get("namespace", "")
        status = pod.get("status") or {}
        for item in [*(status.get("initContainerStatuses") or []), *(status.get("containerStatuses") or [])]:
            digest = split_digest(str(item.get("imageID") or ""))[1]
            if digest:
                found[(namespace, str(item.get("image")))] = digest
                found.setdefault((namespace, qualify(str(item.get("image")))), digest)
    return found


def side_from_records(
    label: str,
    source: str,
    records: Iterable[Mapping[str, Any]],
    pods: Iterable[Mapping[str, Any]],
    upstream: Callable[[str], str],
) -> SideView:
    digests = pod_digests(pods)
    releases = {}
    for record in records:
        name, namespace = str(record["name"]), str(record.get("namespace") or "default")
        metadata = (record.get("chart") or {}).get("metadata") or {}
        documents, problems = yamlpos.load_documents(record.get("manifest") or "")
        if problems:  # never "no containers": that would read as parity with an equally unread side
            raise EnvironmentProblem(
                f"the manifest of Helm release {name} ({namespace}) cannot be read: {problems[0].message}",
                hint="check the release with `helm get manifest`; parity cannot compare what it cannot read",
            )
        objects = [obj for obj in documents if isinstance(obj, dict)]

        def digest_of(image: str, ref: str, namespace: str = namespace) -> str:
            pinned = split_digest(image)[1]
            return pinned or digests.get((namespace, image)) or digests.get((namespace, qualify(image)), "")

        releases[name] = ReleaseView(
            name,
            namespace,
            str(metadata.get("name", "")),
            str(metadata.get("version", "")),
            record.get("config") or {},
            containers_of(objects, namespace, upstream, digest_of),
        )
    return SideView(label, source, releases)


def read_live(label: str, kubeconfig: Path, context: str | None, upstream: Callable[[str], str]) -> SideView:
    """The deployed revision of every release, and every pod, through the real Kubernetes client."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    where = f"context {context}" if context else f"{kubeconfig}"
    try:
        configuration = client.Configuration()
        config.load_kube_config(config_file=str(kubeconfig), context=context, client_configuration=configuration)  # type: ignore[no-untyped-call]
        configuration.retries = 1  # a silent server costs two timeouts, not four
        api = client.CoreV1Api(client.ApiClient(configuration))
        secrets = api.list_secret_for_all_namespaces(
            label_selector="owner=helm,status=deployed", _request_timeout=CALL_TIMEOUT, _preload_content=False
        )
        pods = api.list_pod_for_all_namespaces(_request_timeout=CALL_TIMEOUT, _preload_content=False)
        secret_items = json.loads(cast("Any", secrets).data).get("items") or []
        pod_items = json.loads(cast("Any", pods).data).get("items") or []
    except (ConfigException, OSError, ValueError, yaml.YAMLError, AttributeError, TypeError) as error:
        raise EnvironmentProblem(
            f"cannot read the {label} cluster ({where} of {kubeconfig}): {error}",
            hint="check the kubeconfig and context, or compare rendered manifests instead",
        ) from None
    except ApiException as error:
        raise EnvironmentProblem(
            f"the {label} cluster ({where}) refused to list releases and pods: HTTP {error.status} {error.reason}",
            hint="the user needs get/list on secrets and pods in every namespace (a read-only ClusterRole)",
        ) from None
    except Exception as error:  # urllib3's connection errors: the cluster is out of reach
        if type(error).__module__.startswith("urllib3"):
            from greenzone.cluster.kube import api_server

            server = api_server(kubeconfig, context)
            if "timed out" in str(error) or "Timeout" in type(error).__name__:
                raise peers.silent(
                    f"the {label} Kubernetes API at {server}",
                    CALL_TIMEOUT,
                    "listing Helm releases and pods",
                    "check that the API server runs and that nothing between drops its answers, "
                    "or compare rendered manifests instead (--cloud-rendered)",
                ) from None
            raise EnvironmentProblem(
                f"cannot reach the {label} Kubernetes API at {server} ({where}): {peers.reason(error)}",
                hint="check the network path to its API server, or compare rendered manifests instead",
            ) from None
        raise
    records = [
        decode_release(item["data"]["release"]) for item in secret_items if "release" in (item.get("data") or {})
    ]
    return side_from_records(label, f"live cluster ({where})", records, pod_items, upstream)

"""The Kubernetes client adapter: a few reads and writes, returning plain dicts.

It only talks to the API; what to do with the answers is in deploy/workloads.py. The client is
imported lazily so that commands which never reach a cluster do not pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from greenzone import peers
from greenzone.errors import EnvironmentProblem, InputError


class Kube:
    def __init__(self, kubeconfig: Path, *, timeout: float = 20) -> None:
        from kubernetes import client, config

        try:
            api_client = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
        except Exception as error:  # the loader raises many types for one cause: an unusable file
            raise EnvironmentProblem(
                f"cannot use the kubeconfig {kubeconfig}: {error}",
                hint="re-run the k3s phase; it writes the installer's kubeconfig",
            ) from None
        self._client = api_client
        self.core = client.CoreV1Api(api_client)
        self.timeout = timeout

    def _plain(self, obj: Any) -> dict[str, Any]:
        plain: dict[str, Any] = self._client.sanitize_for_serialization(obj)
        return plain

    def pods(self, namespace: str) -> list[dict[str, Any]]:
        listed = self.core.list_namespaced_pod(namespace, _request_timeout=self.timeout)
        return [self._plain(pod) for pod in listed.items]

    def secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        from kubernetes.client.exceptions import ApiException

        try:
            return self._plain(self.core.read_namespaced_secret(name, namespace, _request_timeout=self.timeout))
        except ApiException as error:
            if error.status == 404:
                return None
            raise

    def ensure_namespace(self, name: str) -> bool:
        from kubernetes import client
        from kubernetes.client.exceptions import ApiException

        try:
            self.core.read_namespace(name, _request_timeout=self.timeout)
            return False
        except ApiException as error:
            if error.status != 404:
                raise
        self.core.create_namespace(
            client.V1Namespace(metadata=client.V1ObjectMeta(name=name)), _request_timeout=self.timeout
        )
        return True

    def put_secret(self, manifest: dict[str, Any], *, exists: bool) -> None:
        from kubernetes import client

        metadata = manifest["metadata"]
        body = client.V1Secret(
            metadata=client.V1ObjectMeta(
                name=metadata["name"], namespace=metadata["namespace"], labels=metadata.get("labels")
            ),
            type=manifest["type"],
            string_data=manifest["stringData"],
        )
        if exists:
            self.core.replace_namespaced_secret(
                metadata["name"], metadata["namespace"], body, _request_timeout=self.timeout
            )
        else:
            self.core.create_namespaced_secret(metadata["namespace"], body, _request_timeout=self.timeout)


def api_server(kubeconfig: Path, context: str | None = None) -> str:
    """The API server's URL as the kubeconfig names it (for messages); the file's path if unreadable."""
    from greenzone import yamlpos

    try:
        config = yamlpos.data(kubeconfig.read_text(encoding="utf-8"), str(kubeconfig)) or {}
        contexts = {c["name"]: c["context"] for c in config.get("contexts") or []}
        current = contexts.get(context or config.get("current-context", ""), {})
        clusters = {c["name"]: c["cluster"] for c in config.get("clusters") or []}
        return str(clusters[current["cluster"]]["server"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return str(kubeconfig)


def check_api_answers(kubeconfig: Path, context: str | None, label: str) -> None:
    """One short request to the API server before helm talks to it for minutes: a server that is down
    or silent is named within `peers.API_CALL` seconds, not after helm's own wait."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException
    from kubernetes.config.config_exception import ConfigException

    server = api_server(kubeconfig, context)
    configuration = client.Configuration()
    try:
        config.load_kube_config(config_file=str(kubeconfig), context=context, client_configuration=configuration)  # type: ignore[no-untyped-call]
    except (ConfigException, ValueError, TypeError, AttributeError, yaml.YAMLError) as error:
        raise InputError(
            f"the {label} kubeconfig {kubeconfig} cannot be used: {error}",
            hint="check the file and its context (`kubectl --kubeconfig FILE config view`)",
        ) from None
    try:
        configuration.retries = 0  # one try: this call exists to learn quickly whether the server answers
        api = client.VersionApi(client.ApiClient(configuration))
        api.get_code(_request_timeout=(peers.API_CALL, peers.API_CALL))
    except ApiException:
        return  # it answered (even a refusal is an answer); helm reports what it refuses
    except Exception as error:  # the loader's many types, urllib3's connection errors
        text = str(error)
        if "timed out" in text or "Timeout" in type(error).__name__:
            raise peers.silent(
                f"the {label} Kubernetes API at {server}",
                peers.API_CALL,
                "GET /version",
                "check that the API server runs and that nothing between drops its answers",
            ) from None
        raise EnvironmentProblem(
            f"cannot reach the {label} Kubernetes API at {server}: {peers.reason(error)}",
            hint="check the kubeconfig's server address and context, and the network path to it",
        ) from None

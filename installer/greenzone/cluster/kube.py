"""The Kubernetes client adapter: a few reads and writes, returning plain dicts.

It only talks to the API; what to do with the answers is in deploy/workloads.py. The client is
imported lazily so that commands which never reach a cluster do not pay for it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from greenzone.errors import EnvironmentProblem


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

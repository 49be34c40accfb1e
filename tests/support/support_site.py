"""A site with secrets planted in every source a support bundle reads, and the API stand-in serving
its cluster (pods with an environment, events, workloads, container logs with prompts in them);
`python -m tests.support.support_site ARGS.json` runs `greenzone support-bundle` against it inside
`unshare --net` (tests/test_support_bundle.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import yaml
from tests.support import health_cluster as hc
from tests.support.health import ANSWERS, PUSHED, write_kubeconfig
from tests.support.health_standins import closed_port, kube_api, serve
from tests.support.paths import REPO

JOIN_TOKEN = "K10" + "3f" * 32 + "::server:5ec4e7j01n"
PLANTED = {
    "credentials file": "Harbor-Pw-7f3k9",
    "credentials token": "rob0t-t0ken-XYZ123",
    "kubeconfig token": "kube-token-Secret-42",
    "values file": "Values-Pw-55aa",
    "environment": "Env-Secret-9191",
    "pod environment": "Pod-Env-Secret-77",
    "join token": JOIN_TOKEN,
    "bearer header": "eyBearerTokenValue0123456789",
    "private key": "MIIEvQIBADANBgkqhkiG9w0BAQEFAASC",
    "prompt": "Patient Jane Roe, MRN 4471",
    "answer": "the scan shows a fracture",
}
PEM = f"-----BEGIN PRIVATE KEY-----\n{PLANTED['private key']}\nAbCdEf==\n-----END PRIVATE KEY-----\n"


def site_pods() -> list[dict[str, Any]]:
    pods = hc.appliance_cluster("gz-node-1")["pods"]
    for pod in pods:
        pod["spec"] = {
            "containers": [
                {"name": "main", "image": "x:1", "env": [{"name": "DB_PASS", "value": PLANTED["pod environment"]}]}
            ]
        }
    return pods


def api_objects() -> dict[str, Any]:
    cluster = hc.appliance_cluster("gz-node-1")
    cluster["pods"] = site_pods()
    paths = hc.api_paths(cluster)
    by_namespace: dict[str, list[Any]] = {}
    for pod in cluster["pods"]:
        by_namespace.setdefault(pod["metadata"]["namespace"], []).append(pod)
    for namespace, pods in by_namespace.items():
        paths[f"/api/v1/namespaces/{namespace}/pods"] = {"kind": "PodList", "items": pods}
        for pod in pods:
            log = (
                'time=2026-11-26T10:00:00Z level=INFO msg="listening on 0.0.0.0:11434"\n'
                f'{{"model":"gemma3:4b","messages":[{{"role":"user","content":"{PLANTED["prompt"]}"}}]}}\n'
                f'{{"choices":[{{"message":{{"content":"{PLANTED["answer"]}"}}}}]}}\n'
                f"joining with {JOIN_TOKEN}\n"
                f"env says {PLANTED['environment']}\n"
            )
            paths[f"/api/v1/namespaces/{namespace}/pods/{pod['metadata']['name']}/log"] = log.encode()
    paths["/api/v1/namespaces/greenzone-inference/events"] = {
        "kind": "EventList",
        "items": [
            {
                "metadata": {"namespace": "greenzone-inference", "name": "e1"},
                "involvedObject": {"kind": "Pod", "name": "greenzone-inference-ollama"},
                "type": "Warning",
                "reason": "Failed",
                "message": f"login with admin_password={PLANTED['credentials file']} refused",
                "count": 3,
                "lastTimestamp": "2026-11-26T10:00:00Z",
            }
        ],
    }
    paths["/apis/apps/v1/namespaces/greenzone-inference/deployments"] = {
        "kind": "DeploymentList",
        "items": [
            {
                "metadata": {"namespace": "greenzone-inference", "name": "greenzone-inference-ollama", "generation": 2},
                "spec": {
                    "replicas": 1,
                    "template": {"spec": {"containers": [{"name": "ollama", "image": "docker.io/ollama/ollama:0.6.5",
                                                          "env": [{"name": "K", "value": PLANTED["pod environment"]}]}]}},
                },
                "status": {"readyReplicas": 1, "replicas": 1},
            }
        ],
    }  # fmt: skip
    return paths


def site_state(tmp_path: Path, api: str) -> Path:
    state = tmp_path / "state"
    write_kubeconfig(state, api)
    kubeconfig = state / "kubeconfig"
    kubeconfig.write_text(kubeconfig.read_text().replace("not-a-real-token", PLANTED["kubeconfig token"]))
    (state / "installed-answers.yaml").write_text(ANSWERS)
    images = [{"ref": ref, "digest": "sha256:" + "e" * 64} for ref in PUSHED]
    (state / "installed-bundle.yaml").write_text(
        json.dumps({"format_version": 1, "product_version": "1.0.0", "images": images})
    )
    credentials = state / "credentials.yaml"
    credentials.write_text(
        yaml.safe_dump({"harbor": {"admin": PLANTED["credentials file"]}, "robot": PLANTED["credentials token"]})
    )
    credentials.chmod(0o600)
    (state / "values").mkdir()
    (state / "values" / "harbor.yaml").write_text(yaml.safe_dump({"harborAdminPassword": PLANTED["values file"]}))
    (state / "install.log").write_text(
        f"TASK [harbor] login as admin with {PLANTED['credentials file']}\n"
        f"Authorization: Bearer {PLANTED['bearer header']}\n{PEM}"
        f"k3s token {JOIN_TOKEN}\nvalues say {PLANTED['values file']}\n"
    )
    upgrade = state / "upgrades" / "20261126T120000Z"
    upgrade.mkdir(parents=True)
    (upgrade / "record.json").write_text(json.dumps({"id": upgrade.name, "outcome": "succeeded", "revisions": None}))
    (upgrade / "plan.json").write_text(json.dumps({"notes": [f"robot {PLANTED['credentials token']}"]}))
    (upgrade / "previous").mkdir()
    (upgrade / "previous" / "answers.yaml").write_text(ANSWERS)
    (state / "logs").mkdir()
    (state / "logs" / "greenzone.log").write_text(
        f"robot={PLANTED['credentials token']} kube {PLANTED['kubeconfig token']}\n"
    )
    return state


def members_of(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive, "r:gz") as tar:
        return {info.name: tar.extractfile(info).read() for info in tar if info.isfile()}  # type: ignore[union-attr]


def main(arguments: Path) -> None:
    """Inside the namespace: loopback up, the API stand-in, then the command as a site runs it."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    args = json.loads(arguments.read_text())
    work = Path(args["work"])
    with serve(kube_api(api_objects())) as api:
        state = site_state(work, api)
        archive = work / "out" / "support.tar.gz"
        command = [
            sys.executable, "-m", "greenzone", "--state-dir", str(state), "support-bundle", "--out", str(archive),
            "--budget", "30", "--endpoint", f"registry={closed_port()}", "--endpoint", f"chat={closed_port()}/",
            "--endpoint", f"inference={closed_port()}", "--json",
        ]  # fmt: skip
        env = {**os.environ, "HARBOR_ADMIN_PASSWORD": PLANTED["environment"], "FAKE_NVML_CONFIG": "",
               "LD_LIBRARY_PATH": "", "PYTHONPATH": str(REPO / "installer")}  # fmt: skip
        done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO, timeout=120, check=False)
    print(json.dumps({"returncode": done.returncode, "stdout": done.stdout, "stderr": done.stderr[-3000:],
                      "archive": str(archive)}))  # fmt: skip


if __name__ == "__main__":
    main(Path(sys.argv[1]))

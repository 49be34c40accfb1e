"""`greenzone departments`: list, hand over and rotate the gateway keys of an installed appliance.

The cluster is a stand-in of the Kubernetes API that records the Secrets written to it (no k3s can
run here); the kubernetes client, the credentials file and the CLI are the real ones.
"""

from __future__ import annotations

import hashlib
import json
import stat
import threading
from pathlib import Path
from typing import Any

import yaml

from greenzone.results import ExitCode
from greenzone.statedir import StateDir
from greenzone.values import gateway
from tests.support.cli import Run
from tests.support.health import ANSWERS, write_kubeconfig
from tests.support.health_standins import closed_port, serve

TWO = ANSWERS.replace(
    "departments: [{name: legal, gpu_quota: 1}]",
    "departments: [{name: legal, gpu_quota: 1, requests_per_minute: 30}, {name: hr, namespace: people}]",
)


def installed(tmp_path: Path, *, keys: dict[str, str]) -> tuple[Path, dict[str, str]]:
    state = tmp_path / "state"
    state.mkdir()
    where = StateDir(state)
    where.installed_answers.write_text(TWO)
    credentials = {
        "harbor_admin_password": "Gz-admin-Secret-1",
        **{gateway.credential_name(k): v for k, v in keys.items()},
    }
    where.credentials.write_text(yaml.safe_dump(credentials))
    where.credentials.chmod(0o600)
    return state, credentials


def test_list_names_limits_and_which_keys_exist_never_a_key(tmp_path: Path, run_cli: Run) -> None:
    installed(tmp_path, keys={"legal": "sk-legal-" + "a" * 40})
    done = run_cli("departments", "list", "--json")
    assert done.returncode == 1, done.stderr  # hr has no key yet: a warning
    checks = {check["name"]: check for check in json.loads(done.stdout)["checks"]}
    assert checks["legal"]["status"] == "pass" and "30 requests/min" in checks["legal"]["detail"]
    assert checks["hr"]["status"] == "warn" and "namespace people" in checks["hr"]["detail"]
    assert "sk-legal" not in done.stdout + done.stderr


def test_key_prints_only_the_key_and_refuses_an_unknown_department(tmp_path: Path, run_cli: Run) -> None:
    installed(tmp_path, keys={"legal": "sk-legal-" + "a" * 40})
    done = run_cli("departments", "key", "legal")
    assert done.returncode == 0 and done.stdout.strip() == "sk-legal-" + "a" * 40
    unknown = run_cli("departments", "key", "finance")
    assert unknown.returncode == ExitCode.INPUT
    assert "no department 'finance'" in unknown.stderr and "legal, hr" in unknown.stderr


class SecretStore:
    """The Secrets part of the Kubernetes API: read (404 until written), create and replace."""

    def __init__(self) -> None:
        self.secrets: dict[tuple[str, str], dict[str, Any]] = {}
        self.lock = threading.Lock()

    def route(self, method: str, path: str, body: Any) -> tuple[int, Any]:
        parts = path.split("?")[0].strip("/").split("/")  # api v1 namespaces NS secrets [NAME]
        if parts[:3] != ["api", "v1", "namespaces"] or parts[4:5] != ["secrets"]:
            return 404, {"kind": "Status", "code": 404}
        namespace = parts[3]
        with self.lock:
            if method == "GET":
                found = self.secrets.get((namespace, parts[5]))
                return (200, found) if found else (404, {"kind": "Status", "apiVersion": "v1", "code": 404})
            name = body["metadata"]["name"]
            self.secrets[(namespace, name)] = {**body, "kind": "Secret", "apiVersion": "v1"}
            return (201 if method == "POST" else 200), self.secrets[(namespace, name)]


def test_rotate_writes_a_new_key_to_the_file_the_gateway_and_the_department(tmp_path: Path, run_cli: Run) -> None:
    old = {"legal": "sk-legal-" + "a" * 40, "hr": "sk-hr-" + "b" * 40, "chat-ui": "sk-c" + "c" * 40}
    state, before = installed(tmp_path, keys=old)
    store = SecretStore()
    with serve(store.route) as api:
        write_kubeconfig(state, api)
        text = (state / "credentials.yaml").read_bytes()
        check = run_cli("departments", "rotate", "legal", "--check")
        assert check.returncode == 0 and "would write a new key" in check.stdout
        refused = run_cli("departments", "rotate", "legal")  # no terminal, no --yes
        assert refused.returncode == ExitCode.INPUT and "nothing was changed" in refused.stderr
        assert (state / "credentials.yaml").read_bytes() == text and not store.secrets
        done = run_cli("departments", "rotate", "legal", "--yes")
    assert done.returncode == 0, done.stderr
    after = yaml.safe_load((state / "credentials.yaml").read_text())
    assert stat.S_IMODE((state / "credentials.yaml").stat().st_mode) == 0o600
    new = after[gateway.credential_name("legal")]
    assert new != old["legal"] and new.startswith("sk-")
    assert {k: v for k, v in after.items() if k != gateway.credential_name("legal")} == {
        k: v for k, v in before.items() if k != gateway.credential_name("legal")
    }
    handed = store.secrets[("legal-dept", gateway.DEPARTMENT_SECRET)]["stringData"]
    assert handed == {"api-key": new, "base-url": "http://greenzone-inference-gateway.greenzone-inference.svc:4000/v1"}
    keys = json.loads(store.secrets[("greenzone-inference", gateway.KEYS_SECRET)]["stringData"]["keys.json"])
    digests = {tenant["name"]: tenant["sha256"] for tenant in keys["tenants"]}
    assert digests["legal"] == hashlib.sha256(new.encode()).hexdigest()
    assert digests["hr"] == hashlib.sha256(old["hr"].encode()).hexdigest()
    assert new not in done.stdout + done.stderr and old["legal"] not in done.stdout + done.stderr


def test_rotate_says_the_key_is_stored_when_the_cluster_does_not_answer(tmp_path: Path, run_cli: Run) -> None:
    state, _ = installed(tmp_path, keys={"legal": "sk-legal-" + "a" * 40, "hr": "sk-hr-" + "b" * 40})
    write_kubeconfig(state, closed_port())
    done = run_cli("departments", "rotate", "legal", "--yes")
    assert done.returncode == ExitCode.ENVIRONMENT, done.stderr
    assert "the new key is stored" in done.stderr and "rotate legal" in done.stderr
    assert "Traceback" not in done.stderr
    new = yaml.safe_load((state / "credentials.yaml").read_text())[gateway.credential_name("legal")]
    assert new not in done.stderr + done.stdout

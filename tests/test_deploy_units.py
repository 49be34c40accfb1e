"""The deploy package's pure parts and local adapters: progress from events, failure messages,
release and pod verdicts on real-shaped objects, credentials, Secret manifests, the bootstrap archive,
and the workspace the playbooks read."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import yaml
from cryptography import x509

from greenzone.answers.files import load_valid_answers
from greenzone.answers.model import Answers
from greenzone.bundle.oci import Layout, add_image, write_archive
from greenzone.deploy.ansible_events import PhaseProgress, apply_event, failure_message, tasks_per_phase
from greenzone.deploy.credentials import ensure_credentials
from greenzone.deploy.inventory import build_inventory
from greenzone.deploy.plan import ALL_PHASES
from greenzone.deploy.report import phase_checks
from greenzone.deploy.state import InstallState
from greenzone.deploy.workloads import not_ready_pods, release_action, secret_differs
from greenzone.deploy.workspace import prepare
from greenzone.errors import InputError
from greenzone.resources import playbooks_dir
from greenzone.statedir import StateDir
from greenzone.values import gateway, secrets
from greenzone.values.secrets import department_key_manifests, secret_manifests

ROOT = Path(__file__).resolve().parents[1]
SINGLE = ROOT / "examples" / "single-node-ollama.yaml"


def _answers() -> Answers:
    """The single-node example without its admin password file (a path on the appliance)."""
    answers = load_valid_answers(SINGLE)
    return answers.model_copy(update={"registry": answers.registry.model_copy(update={"admin_password_file": None})})


def _list_tasks(inventory: Path, *extra: str) -> str:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    listed = subprocess.run(
        ["ansible-playbook", "-i", str(inventory), "site.yml", "--list-tasks", *extra],
        cwd=playbooks_dir(),
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return listed.stdout


@pytest.mark.slow
def test_count_tasks_reads_ansible_playbooks_own_listing(tmp_path: Path) -> None:
    """One listing of the whole playbook sizes every phase as Ansible's own per-tag listing does."""
    inventory = tmp_path / "inventory.json"
    inventory.write_text(yaml.safe_dump(build_inventory(load_valid_answers(SINGLE))))
    names = [phase.name for phase in ALL_PHASES]
    for skip in ((), ("--skip-tags", "cluster")):
        whole = tasks_per_phase(_list_tasks(inventory, *skip), names)
        for phase in ("k3s", "harbor"):
            listed = _list_tasks(inventory, "--tags", phase, *skip)
            assert whole[phase] == tasks_per_phase(listed, [phase])[phase], (phase, skip)
    listed = _list_tasks(inventory, "--tags", "k3s")
    role_tasks = (playbooks_dir() / "roles/k3s/tasks/main.yml").read_text().count("\n- name:")
    # Role argument checks are tagged `always`: every play's run whatever the tags, and are counted.
    checks = listed.count("Validating arguments against arg spec")
    assert checks >= len(list((playbooks_dir() / "roles").iterdir()))
    # k3s is two plays, servers then agents; a single-node appliance's agents play has no hosts and
    # runs nothing, not even its `always` checks, so the runner leaves the empty group's play out.
    in_agents_play = listed.split("(agent):")[1].split("play #")[0].count("Validating arguments against arg spec")
    assert in_agents_play >= 1
    assert tasks_per_phase(listed, ["k3s"])["k3s"] == 2 * role_tasks + checks
    assert tasks_per_phase(listed, ["k3s"], {"agent"})["k3s"] == role_tasks + checks - in_agents_play


def test_progress_counts_and_lines() -> None:
    progress = PhaseProgress("k3s", tasks_total=4, started=100.0)
    assert apply_event(progress, {"event": "playbook_on_task_start", "event_data": {"task": "Copy", "role": "k3s"}})
    changed = {
        "event": "runner_on_ok",
        "event_data": {"task": "Copy", "role": "k3s", "host": "gz-1", "res": {"changed": True}},
    }
    assert apply_event(progress, changed) == "[k3s] changed gz-1: k3s : Copy"
    ignored = {"event": "runner_on_failed", "event_data": {"host": "gz-1", "ignore_errors": True, "res": {"msg": "x"}}}
    assert apply_event(progress, ignored) is None
    assert (progress.task_index, progress.changed, progress.ok, progress.failed) == (1, 1, 2, 0)
    assert progress.fraction == 0.25 and progress.changes == ["gz-1: k3s : Copy"]
    progress.outcome, progress.finished = "successful", 130.0
    assert progress.fraction == 1.0 and progress.elapsed(999.0) == 30.0


@pytest.mark.parametrize(
    ("result", "expected"),
    [
        ({"msg": "non-zero return code", "rc": 2, "stderr": "a\n\nb\nc\nd\n"}, "exit 2: b / c / d"),
        ({"censored": "the output has been hidden"}, "the output is hidden because the task handles a secret (no_log)"),
        (
            {"results": [{"failed": False}, {"failed": True, "msg": "bad sum", "_ansible_item_label": "k3s binary"}]},
            "[k3s binary] bad sum",
        ),
        ({"msg": "Timeout\n   waiting"}, "Timeout waiting"),
        ({}, "failed without a message"),
    ],
)
def test_failure_message_is_one_readable_line(result: dict[str, object], expected: str) -> None:
    assert failure_message(result) == expected


def test_a_failed_task_that_echoes_a_secret_is_reported_without_it() -> None:
    """The failure line reaches the screen, the JSON events, the install state and the report."""
    from greenzone.redact import REDACTOR

    REDACTOR.register("Gz-echoed-token-4711")
    progress = PhaseProgress("harbor", tasks_total=1, started=0.0)
    failed = {
        "event": "runner_on_failed",
        "event_data": {"host": "gz-1", "task": "Log in", "res": {"msg": "login refused for Gz-echoed-token-4711"}},
    }
    line = apply_event(progress, failed)
    assert line is not None and "Gz-echoed-token-4711" not in line
    assert "Gz-echoed-token-4711" not in progress.failures[0].message and "login refused" in line


def _pod(name: str, ready: bool, **status: object) -> dict[str, object]:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {"metadata": {"name": name}, "status": {"phase": "Running", "conditions": conditions, **status}}


def test_not_ready_pods_name_the_reason() -> None:
    pods: list[dict[str, Any]] = [
        _pod("harbor-core-1", True),
        _pod(
            "ollama-0",
            False,
            containerStatuses=[
                {
                    "name": "ollama",
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "not found in Harbor"}},
                }
            ],
        ),
        _pod(
            "seed-1",
            False,
            initContainerStatuses=[{"name": "seed", "state": {"terminated": {"exitCode": 1, "reason": "Error"}}}],
        ),
        {
            "metadata": {"name": "vllm-0"},
            "status": {
                "phase": "Pending",
                "conditions": [
                    {"type": "PodScheduled", "status": "False", "message": "0/1 nodes: Insufficient nvidia.com/gpu"}
                ],
            },
        },
        {"metadata": {"name": "helm-test"}, "status": {"phase": "Succeeded"}},
    ]
    assert not_ready_pods(pods) == [
        "ollama-0: ollama: ImagePullBackOff (not found in Harbor)",
        "seed-1: seed: exited 1 (Error)",
        "vllm-0: unschedulable: 0/1 nodes: Insufficient nvidia.com/gpu",
    ]


def test_release_action_leaves_an_identical_release_alone() -> None:
    values = {"engine": "ollama", "models": ["gemma3:4b"]}
    current = {"status": "deployed", "chart_version": "0.1.0", "values": dict(values)}
    assert release_action(None, "0.1.0", values) == ("install", "not installed")
    assert release_action(current, "0.1.0", values) == ("none", "up to date")
    action, why = release_action({**current, "status": "failed"}, "0.2.0", {**values, "engine": "vllm"})
    assert action == "upgrade" and why == "status is failed; chart 0.1.0 -> 0.2.0; values differ under engine"


def test_credentials_are_private_stable_and_complete(tmp_path: Path) -> None:
    answers = _answers()
    assert ensure_credentials(StateDir(tmp_path), answers, environ={}) == ["credentials.yaml", "ca.crt"]
    path = tmp_path / "credentials.yaml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_bytes()
    assert ensure_credentials(StateDir(tmp_path), answers, environ={}) == []
    assert path.read_bytes() == first  # a re-run never rotates a password under a running Harbor
    creds = yaml.safe_load(first)
    assert len(creds["harbor_secret_key"]) == 16
    user, _, hashed = creds["harbor_registry_htpasswd"].partition(":")
    assert user == "harbor_registry_user" and bcrypt.checkpw(
        creds["harbor_registry_password"].encode(), hashed.encode()
    )
    cert = x509.load_pem_x509_certificate(creds["registry_tls_crt"].encode())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [answers.registry_hostname()]
    assert (tmp_path / "ca.crt").read_text() == creds["ca_crt"] and "PRIVATE" not in creds["ca_crt"]
    password_file = tmp_path / "admin"
    password_file.write_text("Chosen-Passw0rd\n")
    chosen = answers.model_copy(
        update={"registry": answers.registry.model_copy(update={"admin_password_file": password_file})}
    )
    ensure_credentials(StateDir(tmp_path), chosen, environ={})
    again = yaml.safe_load(path.read_text())
    assert again["harbor_admin_password"] == "Chosen-Passw0rd" and again["k3s_token"] == creds["k3s_token"]


def test_each_department_gets_a_gateway_key_and_a_department_that_left_loses_it(tmp_path: Path) -> None:
    from greenzone.answers.model import Department

    path = tmp_path / "credentials.yaml"
    two = _answers().model_copy(update={"departments": [Department(name="legal"), Department(name="hr")]})
    ensure_credentials(StateDir(tmp_path), two, environ={})
    first = yaml.safe_load(path.read_text())
    keys = {name: value for name, value in first.items() if name.startswith(gateway.KEY_PREFIX)}
    assert set(keys) == {f"gateway_key_{t}" for t in ("legal", "hr", "chat-ui", "monitoring")}
    assert all(value.startswith("sk-") and len(value) == 51 for value in keys.values())
    assert len(set(keys.values())) == 4
    one = two.model_copy(update={"departments": [Department(name="legal")]})
    ensure_credentials(StateDir(tmp_path), one, environ={})
    after = yaml.safe_load(path.read_text())
    assert "gateway_key_hr" not in after  # its key must stop working at the gateway
    assert after["gateway_key_legal"] == first["gateway_key_legal"]  # kept, never rotated by a re-run


def test_a_damaged_credentials_file_is_refused_not_replaced(tmp_path: Path) -> None:
    (tmp_path / "credentials.yaml").write_text("- not a mapping\n")
    with pytest.raises(InputError, match="credentials file") as raised:
        ensure_credentials(StateDir(tmp_path), _answers(), environ={})
    assert "backup" in raised.value.hint
    assert (tmp_path / "credentials.yaml").read_text() == "- not a mapping\n"


def test_secret_manifests_cover_every_secret_the_values_name() -> None:
    creds = {
        source: f"v-{source}"
        for spec in secrets.SECRETS_OF_RELEASE.values()
        for keys in spec.values()
        for source in keys.values()
    }
    made = {
        manifest["metadata"]["name"]: manifest  # type: ignore[index]
        for release, namespace in (("harbor", "harbor"), ("monitoring", "monitoring"), ("greenzone-inference", "gi"))
        for manifest in secret_manifests(release, namespace, creds)
    }
    departments = [{"name": "legal", "namespace": "law"}, {"name": "hr", "namespace": "hr-dept"}]
    keys = {gateway.credential_name(d["name"]): f"sk-{d['name']}" for d in departments}
    handed = department_key_manifests(departments, "gi", keys)
    made |= {manifest["metadata"]["name"]: manifest for manifest in handed}  # type: ignore[index]
    assert set(made) == set(secrets.ALL)
    # Each department gets its own key in its own namespace, with the gateway's address.
    assert [(m["metadata"]["namespace"], m["stringData"]) for m in handed] == [  # type: ignore[index]
        ("law", {"api-key": "sk-legal", "base-url": "http://greenzone-inference-gateway.gi.svc:4000/v1"}),
        ("hr-dept", {"api-key": "sk-hr", "base-url": "http://greenzone-inference-gateway.gi.svc:4000/v1"}),
    ]
    with pytest.raises(KeyError, match="gateway_key_hr"):
        department_key_manifests(departments, "gi", {gateway.credential_name("legal"): "sk-legal"})
    # The gateway holds digests of every tenant's key, never a key.
    document = json.loads(made[secrets.GATEWAY_KEYS]["stringData"]["keys.json"])  # type: ignore[index]
    assert {t["name"]: t["role"] for t in document["tenants"]} == {"chat-ui": "chat-ui", "monitoring": "monitoring"}
    assert not [value for value in creds.values() if value in json.dumps(document)]
    assert made[secrets.REGISTRY_TLS]["type"] == "kubernetes.io/tls"
    assert made[secrets.HARBOR_CORE]["stringData"] == {
        "secretKey": "v-harbor_secret_key",
        "secret": "v-harbor_core_secret",
        "CSRF_KEY": "v-harbor_csrf_key",
    }
    assert not secret_differs(
        {"type": "Opaque", "data": {"JOBSERVICE_SECRET": "di1oYXJib3Jfam9ic2VydmljZV9zZWNyZXQ="}},
        made[secrets.HARBOR_JOBSERVICE],
    )
    with pytest.raises(KeyError, match="harbor_csrf_key"):
        secret_manifests("harbor", "harbor", {**creds, "harbor_csrf_key": ""})


def test_bootstrap_archive_is_reproducible_and_names_images_for_containerd(tmp_path: Path) -> None:
    layout = Layout(tmp_path / "images")
    layout.init()
    for ref in ("nvcr.io/nvidia/gpu-operator:v25.10.1", "docker.io/library/busybox:1.37", "docker.io/other/x:1"):
        add_image(layout, ref, [ref.encode()])
    refs = ["nvcr.io/nvidia/gpu-operator:v25.10.1", "docker.io/library/busybox:1.37"]
    write_archive(layout, refs, tmp_path / "a.tar")
    write_archive(layout, reversed(refs), tmp_path / "b.tar")
    assert (tmp_path / "a.tar").read_bytes() == (tmp_path / "b.tar").read_bytes()
    with tarfile.open(tmp_path / "a.tar") as tar:
        names = tar.getnames()
        assert all(member.mtime == 0 for member in tar.getmembers())
    assert "oci-layout" in names and "index.json" in names
    assert sum(name.startswith("blobs/sha256/") for name in names) == 2 * 3  # manifest, config, layer each
    with pytest.raises(KeyError, match="nope"):
        write_archive(layout, ["docker.io/library/nope:1"], tmp_path / "c.tar")


def test_preparing_twice_writes_nothing_the_second_time(tmp_path: Path) -> None:
    answers = _answers()
    state = StateDir(tmp_path / "state")
    first = prepare(answers, state, source="examples/single-node-ollama.yaml", bundle=tmp_path)
    assert {"inventory.json", "vars.json", "credentials.yaml", "ca.crt", "values/harbor.yaml"} <= set(first.written)
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700
    second = prepare(answers, state, source="examples/single-node-ollama.yaml", bundle=tmp_path)
    assert second.written == ()
    inventory = yaml.safe_load(state.inventory.read_text())
    assert inventory["all"]["children"]["k3s_cluster"]["vars"]["greenzone_bundle_path"] == str(tmp_path)
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file() and path.name not in ("credentials.yaml",):
            assert yaml.safe_load(state.credentials.read_text())["k3s_token"] not in path.read_text()


def test_deploy_refuses_an_unknown_phase_and_a_missing_bundle(tmp_path: Path) -> None:
    answers = tmp_path / "answers.yaml"
    text = SINGLE.read_text().replace("/etc/greenzone/harbor-admin.password", str(tmp_path / "pw"))
    (tmp_path / "pw").write_text("Chosen-Passw0rd\n")
    (tmp_path / "pw").chmod(0o600)
    answers.write_text(text)
    cli = [
        sys.executable,
        "-m",
        "greenzone",
        "--state-dir",
        str(tmp_path / "state"),
        "deploy",
        "--answers",
        str(answers),
    ]
    missing = subprocess.run([*cli, "--bundle", str(tmp_path / "nowhere")], capture_output=True, text=True)
    assert missing.returncode == 3 and "bundle.yaml" in missing.stderr and "Traceback" not in missing.stderr
    (tmp_path / "bundle").mkdir()
    (tmp_path / "bundle" / "bundle.yaml").write_text("format_version: 1\n")
    unknown = subprocess.run(
        [*cli, "--bundle", str(tmp_path / "bundle"), "--phase", "harbour"], capture_output=True, text=True
    )
    assert (
        unknown.returncode == 3 and "no phase harbour" in unknown.stderr and "phases: preflight, k3s" in unknown.stderr
    )
    assert not (tmp_path / "state" / "credentials.yaml").exists()  # refused before anything was written


def test_a_failed_or_canceled_phase_never_reads_as_whole() -> None:
    """The install screen's bars follow `fraction`: a phase stopped at task 2 of 8 stays at a quarter."""
    for outcome in ("failed", "canceled"):
        progress = PhaseProgress("k3s", 8, started=0.0)
        progress.task_index, progress.outcome = 2, outcome
        assert progress.fraction == 0.25


def test_phase_results_say_would_change_in_check_mode_and_canceled_after_a_cancel(tmp_path: Path) -> None:
    done = PhaseProgress("preflight", 3, started=0.0, finished=1.0)
    done.outcome, done.changed = "successful", 2
    stopped = PhaseProgress("k3s", 3, started=1.0, finished=2.0)
    stopped.task_index, stopped.outcome = 1, "canceled"
    state = InstallState(tmp_path / "state.json")
    checks = {
        c.name: c
        for c in phase_checks(["preflight", "k3s", "images"], [done, stopped], state, "x", tmp_path / "log", check=True)
    }
    assert checks["preflight"].detail == "2 would change in 1 s"
    assert checks["images"].detail == "not run (the install was canceled before it)"
    assert checks["images"].remedy == "run the same command again to resume"

"""`greenzone support-bundle` and `support-bundle analyze`, against the same stand-ins as health's
tests: the real kubernetes client against the API stand-in (serving pods, events, workloads and
container logs), a registry port that answers nothing, this machine's own files and commands.

Secrets are planted in every source the collectors read (the credentials file, the kubeconfig,
values files, the install and command logs, an event, a pod's environment, container logs, this
process's environment) and every member of the archive is scanned for each one. Multi-node host
collection over SSH is not built yet; the host collectors read this machine only.
"""

from __future__ import annotations

import datetime
import io
import json
import os
import signal
import stat
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from greenzone.health.observed import CertView, Http, ImagePresence, RegistryView
from greenzone.health.recorded import views_to_json
from greenzone.health.run import Views
from greenzone.results import Status
from greenzone.support.analyze import analyze_archive
from tests.support import health_cluster as hc
from tests.support.cli import Run
from tests.support.faults import interrupt_at, silent_peer
from tests.support.health import ANSWERS, PUSHED
from tests.support.health_standins import closed_port, kube_api, serve, silent_port
from tests.support.paths import REPO
from tests.support.support_site import JOIN_TOKEN, PLANTED, api_objects, members_of, site_state
from tests.support.testhost import missing_tools, running_host, ssh_key

SCHEMA = json.loads((REPO / "installer/greenzone/schemas/support-index.schema.json").read_text())


@pytest.fixture
def api() -> Iterator[str]:
    with serve(kube_api(api_objects())) as url:
        yield url


def test_nothing_planted_anywhere_leaves_the_site_and_nothing_beyond_it_is_needed(run_cli: Run, tmp_path: Path) -> None:
    """The whole collection inside `unshare --net` (loopback only, the API stand-in inside it too):
    every collector completes, and no planted secret or prompt is in any member of the archive."""
    arguments = tmp_path / "args.json"
    arguments.write_text(json.dumps({"work": str(tmp_path)}))
    ran = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-m", "tests.support.support_site", str(arguments)],
        capture_output=True, text=True, cwd=REPO, timeout=300, check=False,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr[-3000:]
    done = json.loads(ran.stdout.splitlines()[-1])
    assert done["returncode"] in (0, 1), done["stdout"] + done["stderr"]
    archive = Path(done["archive"])
    assert stat.S_IMODE(archive.stat().st_mode) == 0o600
    assert not [path for path in archive.parent.iterdir() if path != archive]  # no temporary left beside it
    members = members_of(archive)
    for name, data in members.items():
        for where, secret in PLANTED.items():
            assert secret.encode() not in data, f"the {where} secret is in {name}"
    top = next(iter(members)).split("/")[0]
    index = json.loads(members[f"{top}/index.json"])
    jsonschema.validate(index, SCHEMA)
    statuses = {item["name"]: item["status"] for item in index["collectors"]}
    assert statuses == {"greenzone": "ok", "health": "ok", "host": "ok", "cluster": "ok", "nodes": "skipped"}, index[
        "collectors"
    ]  # every node of these answers is this machine
    for rule in ("known secrets", "private keys", "authorization headers", "join tokens", "request and answer text"):
        assert index["redactions"].get(rule, 0) >= 1, (rule, index["redactions"])
    # What the vendor needs is there: the views health judged, the events, workloads and logs.
    names = {name.partition("/")[2] for name in members}
    assert {"health/views.json", "health/report.json", "cluster/events.json", "cluster/workloads.json",
            "greenzone/answers.yaml", "host/facts.json", "greenzone/credentials-file.json",
            "greenzone/upgrades/20261126T120000Z/record.json", "greenzone/upgrades/20261126T120000Z/plan.json"} <= names  # fmt: skip
    assert not any("previous" in name for name in names)  # the kept answers are the installed answers' kind
    log = members[f"{top}/cluster/logs/greenzone-inference/greenzone-inference-ollama-5f7d8c9b6-q2w3e/main.log"]
    assert b"listening on 0.0.0.0:11434" in log  # the engine's own lines stay
    assert "never collected" in members[f"{top}/greenzone/credentials-file.json"].decode()
    assert json.loads(done["stdout"])["data"]["archive"] == str(archive)

    analysis = run_cli("support-bundle", "analyze", str(archive), "--json")
    envelope = json.loads(analysis.stdout)
    assert analysis.returncode == 2, analysis.stdout  # nothing answers at the registry and engine addresses
    failing = {check["name"] for check in envelope["checks"] if check["status"] == "fail"}
    assert "registry API" in failing and "NVML" in failing


def test_redact_ips_replaces_addresses_and_names_with_stable_stand_ins(run_cli: Run, tmp_path: Path, api: str) -> None:
    state = site_state(tmp_path, api)
    archive = tmp_path / "support.tar.gz"
    done = run_cli(
        "--state-dir", str(state), "support-bundle", "--out", str(archive), "--budget", "20", "--redact-ips",
        "--endpoint", f"registry={closed_port()}", "--endpoint", f"inference={closed_port()}",
        env={"FAKE_NVML_CONFIG": "", "LD_LIBRARY_PATH": ""},
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    text = b"".join(members_of(archive).values()).decode("utf-8", "replace")
    assert "ai.health.test" not in text and "gz-node-1" not in text
    assert "10.43.0.20" not in text  # the engine Service's cluster IP
    assert "host-" in text and "192.0.2." in text
    analysis = json.loads(run_cli("support-bundle", "analyze", str(archive), "--json").stdout)
    assert "Kubernetes API" in {check["name"] for check in analysis["checks"]}  # the answers still validate


def test_a_hung_api_and_registry_still_give_an_archive_within_the_budget(run_cli: Run, tmp_path: Path) -> None:
    with silent_port() as api, silent_port() as registry:
        state = site_state(tmp_path, api)
        archive = tmp_path / "support.tar.gz"
        started = time.monotonic()
        done = run_cli(
            "--state-dir", str(state), "support-bundle", "--out", str(archive), "--budget", "8",
            "--endpoint", f"registry={registry}", "--endpoint", f"chat={closed_port()}/", "--json",
            env={"FAKE_NVML_CONFIG": "", "LD_LIBRARY_PATH": ""},
        )  # fmt: skip
        wall = time.monotonic() - started
    members = members_of(archive)
    index = json.loads(next(data for name, data in members.items() if name.endswith("/index.json")))
    print(f"\nsupport-bundle, API and registry hung: {index['seconds']} s inside, {wall:.2f} s wall (budget 8)")
    assert index["seconds"] <= 8 + 1
    assert wall < 8 + 4  # the budget, plus starting Python and the CLI
    statuses = {item["name"]: item for item in index["collectors"]}
    assert statuses["cluster"]["status"] in ("error", "timed out") and statuses["cluster"]["error"]
    assert statuses["greenzone"]["status"] == "ok" and statuses["host"]["status"] == "ok"
    report = json.loads(next(data for name, data in members.items() if name.endswith("health/report.json")))
    failed = {check["name"] for check in report["checks"] if check["status"] == "fail"}
    assert {"Kubernetes API", "registry API"} <= failed
    assert done.returncode == 1  # written, with collectors that could not finish named as warnings


def test_analyze_refuses_what_is_not_a_support_bundle(run_cli: Run, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.tar.gz"
    bogus.write_bytes(b"not a tar at all")
    done = run_cli("support-bundle", "analyze", str(bogus))
    assert done.returncode == 3 and "not a readable support bundle" in done.stderr and "Traceback" not in done.stderr
    missing = run_cli("support-bundle", "analyze", str(tmp_path / "nope.tar.gz"))
    assert missing.returncode == 3 and "does not exist" in missing.stderr


# --- the analyzers, on recorded fixtures ----------------------------------------------------------

NOW = hc.NOW


def _present(ref: str, present: bool) -> ImagePresence:
    from greenzone.refs import mirror_repository

    return ImagePresence(ref, mirror_repository(ref)[0], "sha256:" + "e" * 64, present)


def _archive(
    cluster: dict[str, Any],
    *,
    images: tuple[ImagePresence, ...] = (),
    certs: tuple[CertView, ...] = (),
    host_files: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, bytes]]:
    registry = RegistryView(
        "https://registry.ai.health.test",
        Http("https://registry.ai.health.test/v2/", 200),
        Http("https://registry.ai.health.test/api/v2.0/health", 200, body={"status": "healthy", "components": []}),
        {"docker.io": True},
        images or tuple(_present(ref, True) for ref in PUSHED),
    )
    views = Views(cluster=hc.view(cluster), registry=registry, certs=certs, missing={})
    members: dict[str, bytes] = {
        "health/views.json": json.dumps(views_to_json(views), default=str).encode(),
        "greenzone/answers.yaml": ANSWERS.replace("address: local", "address: 10.0.0.5").encode(),
        "greenzone/bundle.yaml": json.dumps(
            {"format_version": 1, "product_version": "1.0.0",
             "images": [{"ref": ref, "digest": "sha256:" + "e" * 64} for ref in PUSHED]}
        ).encode(),
    }  # fmt: skip
    for name, value in (host_files or {}).items():
        members[name] = value if isinstance(value, bytes) else json.dumps(value).encode()
    index = {"created_at": NOW.isoformat(), "host": "gz-node-1", "collectors": []}
    return index, members


def _findings(cluster: dict[str, Any], **extra: Any) -> dict[str, tuple[Status, str, str]]:
    index, members = _archive(cluster, **extra)
    report = analyze_archive(index, members, "fixture.tar.gz")
    return {check.name: (check.status, check.detail, check.remedy) for check in report.checks}


def _problems(found: dict[str, tuple[Status, str, str]]) -> dict[str, tuple[Status, str, str]]:
    return {name: item for name, item in found.items() if item[0] in (Status.FAIL, Status.WARN)}


def test_a_healthy_recording_says_nothing_is_wrong() -> None:
    found = _findings(hc.appliance_cluster("gz-node-1"))
    assert _problems(found) == {}
    assert found["Kubernetes API"][0] is Status.PASS and found["nodes"][0] is Status.PASS


def _pod_in(cluster: dict[str, Any], prefix: str) -> dict[str, Any]:
    return next(pod for pod in cluster["pods"] if pod["metadata"]["name"].startswith(prefix))


def _broken(kind: str) -> tuple[dict[str, Any], dict[str, Any]]:
    cluster = hc.appliance_cluster("gz-node-1")
    extra: dict[str, Any] = {}
    engine = "greenzone-inference-ollama"
    if kind == "image Harbor lacks":
        index = cluster["pods"].index(_pod_in(cluster, engine))
        cluster["pods"][index] = hc.pod(
            f"{engine}-5f7d8c9b6-q2w3e", "greenzone-inference", ready=False, waiting="ImagePullBackOff"
        )
        cluster["pods"][index]["status"]["containerStatuses"][0]["image"] = PUSHED[0]
        extra["images"] = (_present(PUSHED[0], False), _present(PUSHED[1], True))
    elif kind == "engine OOM-killed":
        index = cluster["pods"].index(_pod_in(cluster, engine))
        cluster["pods"][index] = hc.pod(f"{engine}-5f7d8c9b6-q2w3e", "greenzone-inference", restarts=4,
                                        last=("OOMKilled", NOW - datetime.timedelta(minutes=2)))  # fmt: skip
    elif kind == "crash loop":
        index = cluster["pods"].index(_pod_in(cluster, engine))
        cluster["pods"][index] = hc.pod(f"{engine}-5f7d8c9b6-q2w3e", "greenzone-inference", ready=False,
                                        waiting="CrashLoopBackOff", restarts=7, last=("Error", NOW))  # fmt: skip
    elif kind == "node NotReady":
        cluster["nodes"] = [hc.node("gz-node-1", ready=False)]
    elif kind == "disk pressure":
        cluster["nodes"][0]["status"]["conditions"][1]["status"] = "True"
    elif kind == "GPU allocatable 0":
        cluster["nodes"][0]["status"]["allocatable"]["nvidia.com/gpu"] = "0"
    elif kind == "validator failed":
        index = cluster["pods"].index(_pod_in(cluster, "nvidia-operator-validator"))
        cluster["pods"][index] = hc.pod("nvidia-operator-validator-x7k2p", "gpu-operator", ready=False,
                                        labels={"app": "nvidia-operator-validator"},
                                        init={**hc.VALIDATIONS, "cuda-validation": 1})  # fmt: skip
    elif kind == "clock skew":
        for condition in cluster["nodes"][0]["status"]["conditions"]:
            condition["lastHeartbeatTime"] = (NOW + datetime.timedelta(minutes=7)).isoformat()
    elif kind == "certificate expiring":
        extra["certs"] = (CertView("registry", "https://registry.ai.health.test", NOW + datetime.timedelta(days=6)),)
    return cluster, extra


SIGNATURES = {
    "image Harbor lacks": ("image pull docker.io/ollama/ollama:0.6.5", "Harbor does not have it"),
    "engine OOM-killed": ("out of memory greenzone-inference/", "memory limit"),
    "crash loop": ("crash loop greenzone-inference/", "--previous"),
    "node NotReady": ("nodes", "NotReady"),
    "disk pressure": ("nodes", "DiskPressure"),
    "GPU allocatable 0": ("GPU allocatable", "offers no nvidia.com/gpu"),
    "validator failed": ("GPU operator", "cuda"),
    "clock skew": ("clock skew", "ahead"),
    "certificate expiring": ("certificate registry", "6 days"),
}


@pytest.mark.parametrize("kind", sorted(SIGNATURES))
def test_each_known_failure_is_named_with_its_remedy(kind: str) -> None:
    cluster, extra = _broken(kind)
    problems = _problems(_findings(cluster, **extra))
    name, said = SIGNATURES[kind]
    matching = {found: item for found, item in problems.items() if found.startswith(name)}
    assert matching, (kind, sorted(problems))
    _, detail, remedy = next(iter(matching.values()))
    assert said in detail + remedy, (kind, detail, remedy)
    assert remedy, f"{kind}: no remedy"


HOST_FACTS = {
    "host": {"nvidia_pci_devices": ["0000:17:00.0"]},
    "nvml": {"state": "ok", "driver_version": "570.86.15", "cuda_driver_version": "12.8", "gpus": []},
}


@pytest.mark.parametrize(
    ("files", "name", "said"),
    [
        ({"host/kernel-nvidia.txt": b"[ 12.3] NVRM: Xid (PCI:0000:17:00): 79, pid=1, GPU has fallen off the bus.\n"},
         "Xid errors", "Xid 79"),
        ({"host/kernel-nvidia.txt": b"NVRM: Xid (PCI:0000:17:00): 48, pid=1, DBE\n"}, "Xid errors", "Xid 48"),
        ({"host/facts.json": {**HOST_FACTS, "nvml": {"state": "version_mismatch",
                                                       "detail": "Driver/library version mismatch"}}},
         "NVML", "mismatch"),
        ({"host/disks.json": [{"purpose": "k3s data dir", "path": "/var/lib/rancher/k3s", "measured_at": "/var",
                               "free_bytes": 5 * 2**30, "total_bytes": 100 * 2**30}]}, "disk k3s data dir", "5%"),
        ({"host/clock.json": {"timedatectl": "NTP=yes\nNTPSynchronized=no\n"}}, "clock synchronised", "not synchronised"),
    ],
)  # fmt: skip
def test_host_signatures_from_the_host_collectors_files(files: dict[str, Any], name: str, said: str) -> None:
    """Health had no local node (the answers' node is remote): the host collector's files are judged."""
    host_files: dict[str, Any] = {"host/facts.json": HOST_FACTS, "host/kernel-nvidia.txt": b"", **files}
    found = _findings(hc.appliance_cluster("gz-node-1"), host_files=host_files)
    assert name in found and found[name][0] in (Status.FAIL, Status.WARN), sorted(_problems(found))
    assert said in found[name][1] + found[name][2], found[name]


def test_the_index_schema_refuses_what_it_must() -> None:
    good = {
        "format": 1, "greenzone": "0.1.0", "created_at": NOW.isoformat(), "host": "h", "since": NOW.isoformat(),
        "budget_seconds": 60, "seconds": 1.5, "redact_ips": False, "redactions": {"known secrets": 2},
        "collectors": [{"name": "host", "what": "x", "status": "ok", "seconds": 0.1, "error": "", "members": {},
                        "notes": [], "truncated": []}],
    }  # fmt: skip
    jsonschema.validate(good, SCHEMA)
    for broken in ({**good, "collectors": []}, {**good, "redactions": {"known secrets": 0}}, {**good, "extra": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(broken, SCHEMA)


def test_views_round_trip_through_json_unchanged() -> None:
    cluster = hc.view(hc.appliance_cluster("gz-node-1"))
    views = Views(cluster=cluster, certs=(CertView("registry", "https://r", NOW),), missing={})
    from greenzone.health.recorded import views_from_json

    again = views_from_json(json.loads(json.dumps(views_to_json(views), default=str)))
    assert again == views


@pytest.mark.slow
@pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))
def test_other_nodes_are_read_over_the_installs_ssh_path(run_cli: Run, tmp_path: Path) -> None:
    """A second node, a real Debian root behind a real sshd (tests/support/testhost.py), with a
    journal and a kernel log that carry a join token and a hardware Xid: its files arrive redacted
    under nodes/<name>/, and `analyze` names the Xid on that node."""
    with running_host(tmp_path / "node", ssh_key(tmp_path)) as host:
        (host.root / "etc/hostname").write_text("gz-agent-marker\n")
        for tool, output in (
            ("journalctl", f"Nov 26 10:00:00 gz-2 k3s[1]: joining with {JOIN_TOKEN}"),
            ("dmesg", "[ 99.1] NVRM: Xid (PCI:0000:3b:00): 79, pid=1, GPU has fallen off the bus."),
        ):
            stub = host.root / "usr/local/bin" / tool
            stub.write_text(f"#!/bin/sh\necho '{output}'\n")
            stub.chmod(0o755)
        state = tmp_path / "state"
        state.mkdir()
        answers = yaml.safe_load(ANSWERS)
        answers["nodes"].append(
            {
                "name": "gz-2",
                "address": "127.0.0.1",
                "role": "agent",
                "ssh": {"port": host.port, "key_file": str(host.key)},
            }
        )
        (state / "installed-answers.yaml").write_text(yaml.safe_dump(answers))
        archive = tmp_path / "support.tar.gz"
        done = run_cli(
            "--state-dir", str(state), "support-bundle", "--out", str(archive), "--budget", "20",
            "--endpoint", f"registry={closed_port()}", "--endpoint", f"inference={closed_port()}",
            "--endpoint", f"kube={closed_port()}",
            env={"FAKE_NVML_CONFIG": "", "LD_LIBRARY_PATH": ""},
        )  # fmt: skip
    assert done.returncode in (0, 1), done.stdout + done.stderr
    members = {name.partition("/")[2]: data for name, data in members_of(archive).items()}
    index = json.loads(members["index.json"])
    assert "nodes/gz-2/hostname.txt" in members, index["collectors"]
    assert members["nodes/gz-2/hostname.txt"].strip() == b"gz-agent-marker"
    assert b"MemTotal" in members["nodes/gz-2/meminfo.txt"]
    assert b"joining with" in members["nodes/gz-2/journal-k3s.txt"]
    assert JOIN_TOKEN.encode() not in members["nodes/gz-2/journal-k3s.txt"]
    assert {item["name"]: item["status"] for item in index["collectors"]}["nodes"] == "ok"
    analysis = json.loads(run_cli("support-bundle", "analyze", str(archive), "--json").stdout)
    found = {check["name"]: check for check in analysis["checks"]}
    assert found["Xid errors on gz-2"]["status"] == "fail" and "Xid 79" in found["Xid errors on gz-2"]["detail"]


def test_sigterm_while_a_node_hangs_stops_its_ssh_and_writes_nothing_half(tmp_path: Path) -> None:
    """A node whose SSH port accepts and never answers: ssh waits in a collector's thread when
    SIGTERM lands; greenzone exits 130, no ssh outlives it, and no partial archive is left."""
    with silent_peer() as (address, port):
        state = tmp_path / "state"
        state.mkdir()
        answers = yaml.safe_load(ANSWERS)
        answers["nodes"].append({"name": "gz-2", "address": address, "role": "agent", "ssh": {"port": port}})
        (state / "installed-answers.yaml").write_text(yaml.safe_dump(answers))
        out = tmp_path / "out"
        command = [sys.executable, "-m", "greenzone", "--state-dir", str(state), "support-bundle",
                   "--out", str(out / "s.tar.gz"), "--budget", "60", "--endpoint", f"kube={closed_port()}",
                   "--endpoint", f"registry={closed_port()}", "--endpoint", f"inference={closed_port()}"]  # fmt: skip
        env = {**os.environ, "PYTHONPATH": str(REPO / "installer"), "FAKE_NVML_CONFIG": ""}
        started = time.monotonic()
        result = interrupt_at(command, after=4, sig=signal.SIGTERM, env=env, cwd=REPO)
        ended = time.monotonic() - started - 4
    assert result.signalled and result.returncode == 130, result.stderr
    assert ended < 3, f"it went on for {ended:.1f} s after SIGTERM (waiting for ssh's own timeout)"
    assert result.survivors == [], "a collector's command outlived greenzone"
    assert not out.exists() or list(out.iterdir()) == []


def test_redaction_of_addresses_names_options_and_request_text() -> None:
    from greenzone.support.redaction import SupportRedactor

    redactor = SupportRedactor(hide_addresses=True, host_names=["gz-node-1", "ai.site.local"])
    shown = redactor.text(
        "GZ-NODE-1 at 10.0.0.5, fe80::1 and 2001:db8:0:1::5; pods 10.42.0.0/16; Ai.Site.Local; 10.0.0.5"
    )
    assert "10.0.0.5" not in shown and "fe80::1" not in shown and "2001:db8:0:1::5" not in shown
    assert "gz-node-1" not in shown.lower() and "ai.site.local" not in shown.lower()
    assert "10.42.0.0/16" in shown  # a range stays: the answers it appears in must still validate
    assert shown.count("192.0.2.1") == 2  # the same address, the same stand-in (a documentation address)
    assert redactor.name("nodes/node-2-10.0.0.12/meminfo.txt") == "nodes/node-2-192.0.2.2/meminfo.txt"
    assert "sk-live-123" not in redactor.text('{"args": ["--api-key", "sk-live-123"], "x": "--token=abc123"}')
    kept = redactor.text(
        "loaded model\n{'messages': [{'content': 'Jane Roe'}]}\n{\\\"prompt\\\": \"x\"}\n", engine_log=True
    )
    assert kept == "loaded model\n"
    assert redactor.counts["request and answer text"] == 2


@pytest.mark.parametrize(
    ("members", "said"),
    [
        ({"index.json": b"[1, 2]"}, "index.json is not an object"),
        ({"index.json": b"{}", "host/facts.json": b'{"nvml": 3}', "host/disks.json": b'[{"purpose": "x"}]'}, ""),
        ({"index.json": b"{}", "host/facts.json": b'{"nvml": {"state": "ok"}}', "host/disks.json": b'[{"x": 1}]'}, ""),
    ],
)
def test_a_damaged_archive_is_refused_or_judged_in_part_never_a_traceback(
    run_cli: Run, tmp_path: Path, members: dict[str, bytes], said: str
) -> None:
    from greenzone.support.archive import write_archive

    path = write_archive(tmp_path / "bundle.tar.gz", "top", {}, {})
    with tarfile.open(path, "w:gz") as tar:  # written by hand: whatever a damaged copy holds
        for name, data in members.items():
            info = tarfile.TarInfo(f"top/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    done = run_cli("support-bundle", "analyze", str(path))
    assert "Traceback" not in done.stderr and done.returncode in (0, 3), done.stderr
    assert said in done.stderr


def test_since_out_of_range_is_a_user_error(run_cli: Run) -> None:
    for since in ("0s", "99999999999d", "soon"):
        done = run_cli("support-bundle", "--since", since, "--budget", "5")
        assert done.returncode == 3 and "--since" in done.stderr and "Traceback" not in done.stderr, since

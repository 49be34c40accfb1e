"""A whole `greenzone health` run with every layer up, and with every layer down.

Up: the fake NVML driver (h100-1x), the kube API stand-in serving a healthy appliance whose engine
Service points at the engine stand-in, a real docker-registry behind Harbor's API stand-in holding the
bundle's images, and an https chat UI stand-in whose certificate the appliance CA file is. The
metrics file is read by the real node-exporter's textfile collector.
Down: no driver, an API and a registry that accept connections and never answer, a closed chat port.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.support import health_cluster as hc
from tests.support.cli import Run
from tests.support.health import ANSWERS, PUSHED, answers_file, bundle_listing, checks, write_kubeconfig
from tests.support.health_standins import (
    HARBOR_HEALTHY,
    Engine,
    closed_port,
    harbor_front,
    kube_api,
    serve,
    silent_port,
)
from tests.support.paths import REPO, SCENARIOS
from tests.support.registry import free_port

pytestmark = pytest.mark.slow  # every layer against real stand-ins, within real budgets


def _tls(tmp_path: Path) -> tuple[ssl.SSLContext, Path]:
    """A self-signed certificate for 127.0.0.1, valid 200 days; its PEM doubles as the appliance CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ai.health.test")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=200))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem = tmp_path / "chat.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file = tmp_path / "chat.key"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(pem, key_file)
    return context, pem


def _node_exporter_scrape(textfile_dir: Path) -> str:
    """The real node-exporter reads the directory once per scrape; its own error gauge says if a file failed."""
    binary = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    assert binary, ".ci/setup installs Debian's prometheus-node-exporter"
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--web.listen-address=127.0.0.1:{port}",
            "--collector.disable-defaults",
            "--collector.textfile",
            f"--collector.textfile.directory={textfile_dir}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    return str(response.read().decode())
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_every_layer_up(run_cli: Run, tmp_path: Path, registry: str, fake_nvml_dir: Path) -> None:
    state = tmp_path / "state"
    context, pem = _tls(tmp_path)
    engine = Engine({"gemma3:4b", "llama3.2:3b"})
    textfile = tmp_path / "textfile"
    textfile.mkdir()
    with (
        serve(engine.route) as engine_url,
        serve(lambda m, p, b: (200, b"<html>chat</html>"), tls=context) as chat,
        serve(harbor_front(registry, HARBOR_HEALTHY, {"docker.io"})) as front,
        serve(kube_api(hc.api_paths(hc.appliance_cluster("gz-node-1", engine_url=engine_url)))) as api,
    ):
        write_kubeconfig(state, api)
        shutil.copy(pem, state / "ca.crt")
        started = time.monotonic()
        result = run_cli(
            "health",
            "--answers", str(answers_file(tmp_path)),
            "--bundle", str(bundle_listing(tmp_path, PUSHED)),
            "--endpoint", f"registry={front}",
            "--endpoint", f"chat={chat}/",
            "--metrics", str(textfile / "greenzone.prom"),
            "--json",
            env={"LD_LIBRARY_PATH": str(fake_nvml_dir), "FAKE_NVML_CONFIG": str(SCENARIOS / "h100-1x.json")},
        )  # fmt: skip
        seconds = time.monotonic() - started
    envelope = json.loads(result.stdout)
    found = checks(envelope)
    print(
        f"\nhealth, every layer up: {seconds:.2f} s wall, {envelope['data']['seconds']} s inside; {envelope['data']['layer_seconds']}"
    )
    assert [check for check in envelope["checks"] if check["status"] == "fail"] == []
    not_host = [check for check in envelope["checks"] if check["group"] != "host"]
    assert {check["status"] for check in not_host} == {"pass"}, not_host
    assert {check["group"] for check in envelope["checks"]} == {
        "host",
        "cluster",
        "registry",
        "inference",
        "green zone",
    }
    assert found["certificate appliance CA"]["status"] == "pass"
    assert found["certificate chat UI"]["detail"].endswith("(199 days)")
    assert sorted(engine.calls)[0] == ("/api/generate", "gemma3:4b")  # found through the Service, not an option
    assert result.returncode == {"pass": 0, "warn": 1}[envelope["status"]]
    prom = (textfile / "greenzone.prom").read_text()
    assert 'greenzone_health_check_status{layer="registry",check="images"} 0' in prom
    assert not list(textfile.glob(".*"))  # the temporary file was renamed, not left behind
    scraped = _node_exporter_scrape(textfile)
    assert "node_textfile_scrape_error 0" in scraped
    assert 'greenzone_health_check_status{check="Kubernetes API",layer="cluster"} 0' in scraped
    assert 'greenzone_health_inference_latency_seconds{api="ollama",model="gemma3:4b"}' in scraped


def test_every_layer_down_within_the_budget(run_cli: Run, tmp_path: Path) -> None:
    with silent_port() as api, silent_port() as registry_url:
        write_kubeconfig(tmp_path / "state", api)
        started = time.monotonic()
        result = run_cli(
            "health",
            "--answers", str(answers_file(tmp_path)),
            "--endpoint", f"registry={registry_url}",
            "--endpoint", f"chat={closed_port()}/",
            "--budget", "3",
            "--json",
            env={"FAKE_NVML_CONFIG": "", "LD_LIBRARY_PATH": ""},
        )  # fmt: skip
        seconds = time.monotonic() - started
    envelope = json.loads(result.stdout)
    print(f"\nhealth, every layer down: {seconds:.2f} s wall, {envelope['data']['seconds']} s inside (budget 3)")
    assert result.returncode == 2
    failed_layers = {check["group"] for check in envelope["checks"] if check["status"] == "fail"}
    assert failed_layers == {"host", "cluster", "registry", "inference"}  # green zone: skipped, its API is down
    found = checks(envelope)
    assert found["NVML"]["status"] == "fail"
    assert "no answer" in found["Kubernetes API"]["detail"]
    assert "no answer within" in found["registry API"]["detail"]
    assert envelope["data"]["seconds"] < 3.2
    assert seconds < 3 + 3  # the budget plus starting the CLI


def test_watch_prints_one_json_document_per_run_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    path = tmp_path / "answers.yaml"
    path.write_text(ANSWERS)
    env = {**os.environ, "GREENZONE_STATE_DIR": str(tmp_path / "state"), "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "greenzone", "health", "--answers", str(path), "--layer", "registry",
         "--endpoint", f"registry={closed_port()}", "--watch", "1", "--json"],
        stdout=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    assert process.stdout
    lines = [process.stdout.readline(), process.stdout.readline()]
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 2  # the last run's exit code, not "interrupted"
    for line in lines:
        envelope = json.loads(line)
        assert envelope["command"] == "health" and envelope["status"] == "fail"

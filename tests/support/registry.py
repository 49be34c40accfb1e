"""A real OCI registry (Debian's `docker-registry`, CNCF distribution) on a free loopback port."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 20) -> None:
    """Until something on 127.0.0.1 accepts connections on `port`."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s") from None
            time.sleep(0.05)


@contextmanager
def running_registry(workdir: Path, *, auth: str = "", tls: tuple[Path, Path] | None = None) -> Iterator[str]:
    """Starts `docker-registry serve` with its own storage; yields its URL; stops it after.

    `auth` is the registry's `auth:` config section as flow YAML (htpasswd or token); `tls` a
    (certificate, key) pair, which makes the URL https://.
    """
    binary = shutil.which("docker-registry")
    assert binary, "docker-registry is needed (.ci/setup installs Debian's docker-registry package)"
    port = free_port()
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log: {level: error}\n"
        f"storage: {{filesystem: {{rootdirectory: {workdir / 'storage'}}}, delete: {{enabled: true}}}}\n"
        + (f"auth: {auth}\n" if auth else "")
        + f"http: {{addr: '127.0.0.1:{port}'"
        + (f", tls: {{certificate: '{tls[0]}', key: '{tls[1]}'}}" if tls else "")
        + "}\n"
    )
    log = (workdir / "registry.log").open("w")
    process = subprocess.Popen([binary, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    probe = ssl._create_unverified_context() if tls else None  # readiness only; tests verify for real
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{url}/v2/", timeout=1, context=probe):
                    break
            except urllib.error.HTTPError:
                break  # 401 from an auth-protected registry: it is up
            except (urllib.error.URLError, ConnectionError):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"docker-registry did not start: {(workdir / 'registry.log').read_text()}"
                    ) from None
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()

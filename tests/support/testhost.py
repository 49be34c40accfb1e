"""A throw-away Debian machine reached over real SSH: a debootstrapped root running its own sshd.

The root is built once with `debootstrap --variant=minbase --include=openssh-server,python3
bookworm` (about 40 s) and kept as a tarball in the test cache (GREENZONE_TEST_CACHE, default
~/.cache/greenzone-tests); each host unpacks a fresh copy. sshd runs chrooted inside its own mount
namespace (`unshare --mount --fork`) with /proc and /dev mounted there: the mounts exist only in
that namespace and vanish with it, so removing the root afterwards can never reach the real /dev.
Hosts share the machine's network namespace, so each sshd listens on its own 127.0.0.1 port.

Needs root, debootstrap, unshare and ssh-keygen; tests skip with the reason when one is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.registry import free_port

SUITE = "bookworm"
CACHE = Path(os.environ.get("GREENZONE_TEST_CACHE", Path.home() / ".cache" / "greenzone-tests"))


def missing_tools() -> str | None:
    if os.geteuid() != 0:
        return "the test host needs root (chroot, mount namespaces)"
    for tool in ("debootstrap", "unshare", "ssh-keygen", "ssh"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (.ci/setup installs it)"
    return None


def root_tarball() -> Path:
    """The cached minimal root, built on first use (and whenever the cache was cleared)."""
    tarball = CACHE / f"debian-{SUITE}-sshd.tar"
    if tarball.is_file():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    work = CACHE / f"build-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    try:
        subprocess.run(
            ["debootstrap", "--variant=minbase", "--include=openssh-server,python3", SUITE, str(work)],
            check=True,
            capture_output=True,
        )
        partial = tarball.with_suffix(".part")
        subprocess.run(["tar", "--numeric-owner", "-C", str(work), "-cf", str(partial), "."], check=True)
        partial.replace(tarball)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return tarball


@dataclass
class TestHost:
    root: Path
    port: int
    key: Path
    process: subprocess.Popen[bytes]

    __test__ = False  # not a pytest class

    def path(self, inside: str) -> Path:
        return self.root / inside.lstrip("/")


def _wait_for_banner(port: int, process: subprocess.Popen[bytes], deadline: float, address: str = "127.0.0.1") -> None:
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited with {process.returncode}")
        try:
            with socket.create_connection((address, port), timeout=1) as conn:
                if conn.recv(64).startswith(b"SSH-"):
                    return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"sshd did not answer on port {port}")


@contextmanager
def running_host(work: Path, key: Path, address: str = "127.0.0.1") -> Iterator[TestHost]:
    """A running host whose root is `work`, accepting `key` for root on `address` (any of 127/8, so
    that several hosts have addresses of their own); stopped and removed afterwards."""
    work.mkdir(parents=True)
    with tarfile.open(root_tarball()) as tar:
        tar.extractall(work, filter="fully_trusted")
    ssh_dir = work / "root" / ".ssh"
    ssh_dir.mkdir(mode=0o700, exist_ok=True)
    (ssh_dir / "authorized_keys").write_text(key.with_suffix(".pub").read_text())
    (ssh_dir / "authorized_keys").chmod(0o600)
    port = free_port()
    script = (
        f"mount -t proc proc {work}/proc && mount --rbind /dev {work}/dev && mkdir -p {work}/run/sshd && "
        f"exec chroot {work} /usr/sbin/sshd -D -e -p {port} -o ListenAddress={address} -o UseDNS=no"
    )
    process = subprocess.Popen(
        ["unshare", "--mount", "--propagation", "private", "--fork", "sh", "-c", script],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait_for_banner(port, process, time.monotonic() + 20, address)
        yield TestHost(work, port, key, process)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # The mounts died with the namespace; make sure before deleting anything.
        mounts = Path("/proc/mounts").read_text()
        if f" {work}/" not in mounts:
            shutil.rmtree(work, ignore_errors=True)


def ssh_key(directory: Path) -> Path:
    key = directory / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    return key

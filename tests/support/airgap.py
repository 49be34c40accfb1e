"""What the air-gap test needs to build a real bundle for the site side: a stand-in for the bundled
Python runtime, a file server for it, and the smallest lock that holds the runtime and the wheels.

The runtime stand-in is Debian's own CPython 3.11 (`/usr/bin/python3.11`, statically linked to
libpython, and its standard library) laid out as python-build-standalone's `install_only` archive
lays it out (`python/bin/python3`, `python/lib/python3.11/`): CPython finds its prefix from where the
executable lies, so the copy runs from wherever it is unpacked, like the real relocatable build. It
is an honest stand-in, not the real thing: the real pin (airgap/bundle.lock.yaml) cannot be
downloaded here. Its Python version is the one airgap/requirements.txt was compiled for.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import shutil
import tarfile
from collections.abc import Iterator
from pathlib import Path

from tests.support import loopback
from tests.support.paths import REPO

DEBIAN_PYTHON = Path("/usr/bin/python3.11")
DEBIAN_STDLIB = Path("/usr/lib/python3.11")


def missing_runtime() -> str | None:
    if not DEBIAN_PYTHON.is_file() or not (DEBIAN_STDLIB / "os.py").is_file():
        return "Debian's python3.11 is not installed (.ci/setup installs it)"
    if shutil.which("openssl") is None or shutil.which("ip") is None:
        return "openssl and iproute2 are needed (.ci/setup installs them)"
    return None


def runtime_archive(out: Path) -> Path:
    """`out`: a gzip tar with `python/bin/python3` and `python/lib/python3.11/`, as uv unpacks."""

    def skip(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        return None if "__pycache__" in parts or "dist-packages" in parts or "test" in parts[3:4] else info

    with tarfile.open(out, "w:gz", compresslevel=1) as tar:
        tar.add(DEBIAN_PYTHON, "python/bin/python3.11")
        link = tarfile.TarInfo("python/bin/python3")
        link.type, link.linkname = tarfile.SYMTYPE, "python3.11"
        tar.addfile(link)
        tar.add(DEBIAN_STDLIB, "python/lib/python3.11", filter=skip)
    return out


@contextlib.contextmanager
def serving(directory: Path) -> Iterator[str]:
    """`directory` over HTTP on 127.0.0.1 (Range requests are not needed: files are small)."""

    class Files(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    with loopback.serving(functools.partial(Files, directory=str(directory))) as (url, _):
        yield url


def site_lock(path: Path, runtime: Path, url: str) -> Path:
    """The runtime, and the wheels exactly as the real lock names them (this checkout's project and
    its checked-in requirements, given as absolute paths)."""
    digest = hashlib.sha256(runtime.read_bytes()).hexdigest()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "lock_version: 1\nplatforms: [linux/amd64]\nfiles:\n"
        "  - name: python\n    version: 3.11.2+debian-stand-in\n    kind: runtime\n"
        f"    url: {url}/{runtime.name}\n    sha256: {digest}\n"
        "    dest: runtime/cpython-3.11.2-x86_64-unknown-linux-gnu-install_only.tar.gz\n"
        "    platform: linux/amd64\n"
        f"wheels:\n  project: {REPO}\n  requirements: {REPO / 'airgap' / 'requirements.txt'}\n"
    )
    return path

"""Resumable downloads against a real HTTP server on 127.0.0.1 that honours Range requests.

The server stands in for upstream release hosts (GitHub releases, get.helm.sh); it can cut a
response short to simulate a dropped connection, or ignore Range like some proxies do.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from greenzone.bundle.download import ChecksumMismatch, DownloadError, fetch
from tests.support.loopback import Quiet, serving

PAYLOAD = os.urandom(3 * 1024 * 1024 + 123)
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class Upstream:
    def __init__(self) -> None:
        self.requests: list[str | None] = []  # the Range header of each request
        self.cut_after: int | None = None  # bytes to send before dropping the connection (once)
        self.ignore_range = False
        self.payload = PAYLOAD


@pytest.fixture
def upstream() -> Iterator[tuple[str, Upstream]]:
    state = Upstream()

    class Handler(Quiet):
        def do_GET(self) -> None:
            if self.path != "/k3s":
                self.send_error(404)
                return
            header = self.headers.get("Range")
            state.requests.append(header)
            body, status = state.payload, 200
            if header and not state.ignore_range:
                start = int(header.removeprefix("bytes=").split("-")[0])
                if start >= len(body):
                    self.send_error(416)
                    return
                body, status = body[start:], 206
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if state.cut_after is not None:
                self.wfile.write(body[: state.cut_after])
                state.cut_after = None
                self.wfile.flush()
                self.connection.shutdown(2)
                return
            self.wfile.write(body)

    with serving(Handler) as (url, _):
        yield url, state


def test_download_verifies_and_reuses(upstream: tuple[str, Upstream], tmp_path: Path) -> None:
    url, state = upstream
    dest = tmp_path / "bin" / "k3s"
    first = fetch(f"{url}/k3s", dest, SHA)
    assert dest.read_bytes() == PAYLOAD and not first.reused
    second = fetch(f"{url}/k3s", dest, SHA)
    assert second.reused and len(state.requests) == 1  # nothing downloaded again


def test_dropped_connection_resumes_with_range(upstream: tuple[str, Upstream], tmp_path: Path) -> None:
    url, state = upstream
    state.cut_after = 1_000_000
    dest = tmp_path / "k3s"
    fetched = fetch(f"{url}/k3s", dest, SHA, backoff=0)
    assert dest.read_bytes() == PAYLOAD
    assert state.requests == [None, "bytes=1000000-"]
    assert not (tmp_path / "k3s.part").exists()
    assert fetched.size == len(PAYLOAD)


def test_interrupted_run_resumes_in_the_next_run(upstream: tuple[str, Upstream], tmp_path: Path) -> None:
    url, state = upstream
    (tmp_path / "k3s.part").write_bytes(PAYLOAD[:2_000_000])  # what a killed build left behind
    fetched = fetch(f"{url}/k3s", tmp_path / "k3s", SHA)
    assert fetched.resumed_from == 2_000_000 and state.requests == ["bytes=2000000-"]
    assert (tmp_path / "k3s").read_bytes() == PAYLOAD


def test_server_ignoring_range_starts_over(upstream: tuple[str, Upstream], tmp_path: Path) -> None:
    url, state = upstream
    state.ignore_range = True
    (tmp_path / "k3s.part").write_bytes(PAYLOAD[:500])
    fetch(f"{url}/k3s", tmp_path / "k3s", SHA)
    assert (tmp_path / "k3s").read_bytes() == PAYLOAD


def test_checksum_mismatch_leaves_nothing_under_the_name(upstream: tuple[str, Upstream], tmp_path: Path) -> None:
    url, state = upstream
    state.payload = PAYLOAD[:-1] + b"X"
    with pytest.raises(ChecksumMismatch, match="the lock pins"):
        fetch(f"{url}/k3s", tmp_path / "k3s", SHA)
    assert not (tmp_path / "k3s").exists() and not (tmp_path / "k3s.part").exists()


def test_wrong_existing_file_is_replaced(upstream: tuple[str, Upstream], tmp_path: Path) -> None:
    url, _ = upstream
    (tmp_path / "k3s").write_bytes(b"stale")
    assert not fetch(f"{url}/k3s", tmp_path / "k3s", SHA).reused
    assert (tmp_path / "k3s").read_bytes() == PAYLOAD


def test_404_and_unreachable_are_clear(upstream: tuple[str, Upstream], tmp_path: Path) -> None:
    url, _ = upstream
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(f"{url}/nope", tmp_path / "x", SHA)
    from tests.support.registry import free_port

    with pytest.raises(DownloadError, match="failed 2 times"):
        fetch(f"http://127.0.0.1:{free_port()}/k3s", tmp_path / "y", SHA, retries=1, backoff=0, timeout=2)

"""Pushes through a proxy that cuts long requests: k3s's Traefik in front of Harbor ends any request
it has read for 60 s, body included (goharbor/harbor#18484), so a multi-GB layer sent in one PUT
never arrives over an ordinary link.

Scaled down: a real Caddy (a Go server with the same whole-request read deadline as Traefik) cuts at
2 s, in front of the real `docker-registry`, over loopback throttled with `tc` to about 1 MB/s in a
network namespace (tests/support/slow_link.py); the layer takes about 8 s to send.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from greenzone.bundle.oci import Layout, add_image
from tests.support.paths import REPO

pytestmark = pytest.mark.slow

DEADLINE = 2.0
LAYER = 8 << 20


@pytest.fixture(scope="module")
def layout(tmp_path_factory: pytest.TempPathFactory) -> Layout:
    layout = Layout(tmp_path_factory.mktemp("proxy") / "images")
    layout.init()
    add_image(layout, "docker.io/greenzone-test/big:1.0", [os.urandom(LAYER), b"small layer"])
    return layout


def push(layout: Layout, tmp_path: Path, *, proxy: dict[str, Any] | None = None, **client: Any) -> dict[str, Any]:
    arguments = tmp_path / "slow-link.json"
    settings = {"rate": "16mbit", "deadline": f"{DEADLINE:g}s", **(proxy or {})}
    arguments.write_text(json.dumps({**settings, "layout": str(layout.root), "client": client}))
    done = subprocess.run(
        ["unshare", "--net", "--", sys.executable, "-m", "tests.support.slow_link", str(arguments)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    outcome: dict[str, Any] = json.loads(done.stdout)
    return outcome


def index_digest(layout: Layout) -> str:
    return next(image.digest for image in layout.index())


def test_one_put_of_a_big_layer_is_cut_and_the_push_goes_on_in_chunks(layout: Layout, tmp_path: Path) -> None:
    """The stand-in really cuts: the layer sent in one PUT is cut at the deadline; the client then
    sends requests at most half that size until they pass, and the image arrives intact."""
    outcome = push(layout, tmp_path, first_chunk=1 << 40)
    assert outcome["pushed"] is True, outcome
    assert outcome["stored"] == index_digest(layout)
    uploads = [r for r in outcome["requests"] if r["method"] in ("PUT", "PATCH") and r["seconds"] > 0.5]
    assert uploads[0]["method"] == "PUT" and uploads[0]["status"] != 201
    assert DEADLINE * 0.9 <= uploads[0]["seconds"] < DEADLINE + 1
    assert [r for r in uploads if r["method"] == "PATCH" and r["status"] == 202]


def test_a_proxy_that_cuts_every_request_gets_a_clear_error_and_nothing_tagged(layout: Layout, tmp_path: Path) -> None:
    """A deadline no request of this link can meet: five tries, each with requests half as big,
    then an error that names the proxy and the link; no tag points at a half-pushed image."""
    outcome = push(layout, tmp_path, proxy={"deadline": "0.2s"})
    assert outcome["pushed"] is False
    assert "kept cutting the upload" in outcome["error"] and "5 tries" in outcome["error"]
    assert "proxy" in outcome["hint"] and "request timeout" in outcome["hint"]
    assert outcome["stored"] == ""


def test_a_layer_longer_than_the_deadline_goes_up_in_chunks_each_inside_it(layout: Layout, tmp_path: Path) -> None:
    """Chunk time scaled like the deadline (10 s of Traefik's 60 s): no request is cut, every PATCH
    ends well inside the deadline, and the registry holds the image under its own digest."""
    outcome = push(layout, tmp_path, chunk_seconds=DEADLINE / 6, first_chunk=512 << 10, min_chunk=256 << 10)
    assert outcome["pushed"] is True, outcome
    assert outcome["stored"] == index_digest(layout)
    patches = [r for r in outcome["requests"] if r["method"] == "PATCH"]
    assert len(patches) >= 4
    assert sum(r["seconds"] for r in patches) > DEADLINE * 2  # the layer itself took longer than the deadline
    assert all(r["status"] == 202 and r["seconds"] < DEADLINE * 0.6 for r in patches), patches
    assert all(r["status"] < 400 or r["method"] == "HEAD" for r in outcome["requests"]), outcome["requests"]


def test_a_push_whose_chunks_are_too_long_for_the_proxy_finds_a_size_that_passes(
    layout: Layout, tmp_path: Path
) -> None:
    """The product's own chunk sizes against a proxy far stricter than Traefik: the cut tries start
    the blob again with smaller chunks until they pass, and the image arrives intact."""
    outcome = push(layout, tmp_path, first_chunk=64 << 20)
    assert outcome["pushed"] is True, outcome
    assert outcome["stored"] == index_digest(layout)
    cut = [r for r in outcome["requests"] if r["method"] in ("PUT", "PATCH") and r["status"] not in (201, 202)]
    assert cut, "the proxy never cut a request: the test does not test the recovery"
    last = outcome["requests"].index(cut[-1])
    after = [r for r in outcome["requests"][last + 1 :] if r["method"] == "PATCH"]
    assert after and all(r["status"] == 202 for r in after)


def test_a_registry_that_refuses_big_bodies_gets_smaller_ones(layout: Layout, tmp_path: Path) -> None:
    """A 2 MiB body limit (GHCR refuses uploads over 4 MiB; Caddy in front answers 502 for it): the
    refused requests teach the client a size that passes, and the image arrives intact."""
    proxy = {"rate": "400mbit", "deadline": "60s", "body_limit": 2 << 20}
    outcome = push(layout, tmp_path, proxy=proxy)
    assert outcome["pushed"] is True, outcome
    assert outcome["stored"] == index_digest(layout)
    refused = [r for r in outcome["requests"] if r["method"] in ("PUT", "PATCH") and r["status"] >= 400]
    assert 0 < len(refused) <= 3, outcome["requests"]
    after = outcome["requests"][outcome["requests"].index(refused[-1]) + 1 :]
    sent = [r for r in after if r["method"] in ("PATCH", "PUT")]
    assert sent and all(r["status"] in (201, 202) for r in sent)


def test_a_registry_whose_range_header_stops_advancing_still_gets_every_byte(layout: Layout, tmp_path: Path) -> None:
    """ECR keeps answering chunks with a `Range` that stopped advancing (aws/containers-roadmap#2831):
    the client counts its own offset, so the push neither stalls nor restarts."""
    proxy = {"rate": "400mbit", "deadline": "60s", "stuck_range": True}
    outcome = push(layout, tmp_path, proxy=proxy, first_chunk=1 << 20, min_chunk=1 << 20, chunk_seconds=0.001)
    assert outcome["pushed"] is True, outcome
    assert outcome["stored"] == index_digest(layout)
    patches = [r for r in outcome["requests"] if r["method"] == "PATCH"]
    assert len(patches) >= 7 and all(r["status"] == 202 for r in patches)
    assert not [r for r in outcome["requests"] if r["status"] >= 400 and r["method"] != "HEAD"]

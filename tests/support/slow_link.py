"""A push over a slow link through a real reverse proxy that cuts long requests, the way k3s's
Traefik cuts any request it has read for longer than 60 s (goharbor/harbor#18484):
`unshare --net -- python -m tests.support.slow_link ARGS.json` (tests/test_bundle_push_proxy.py).

Inside a network namespace of its own, loopback is throttled with `tc` (a token bucket), Debian's
`docker-registry` serves as the registry and Caddy as the proxy before it. Caddy, like Traefik, is
a Go `net/http` server; its `read_timeout` is the same whole-request deadline (body included) as
Traefik's `respondingTimeouts.readTimeout`, scaled down from 60 s to seconds. The push runs
through the proxy; prints one JSON object: the outcome, the error, and each request Caddy handled
(method, status, seconds) from its access log.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from tests.support.registry import free_port, running_registry, wait_for_port

from greenzone.bundle.oci import Layout
from greenzone.bundle.registry import Registry, push_layout
from greenzone.errors import GreenzoneError


def throttle(rate: str) -> None:
    """Loopback at `rate` (tc's units, e.g. 16mbit). A bucket smaller than a loopback frame
    (64 KiB) drops every frame, so the frames shrink to Ethernet's size first."""
    for command in (
        ["ip", "link", "set", "lo", "up"],
        ["ip", "link", "set", "lo", "mtu", "1500"],
        ["tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate", rate, "burst", "32kb", "latency", "2s"],
    ):
        subprocess.run(command, check=True)


def caddy_config(
    port: int, upstream: str, deadline: str, log: Path, *, body_limit: int = 0, stuck_range: bool = False
) -> dict[str, Any]:
    """`body_limit`: refuse bodies over that many bytes with 413, as GHCR refuses uploads over 4 MiB;
    `stuck_range`: answer every chunk with `Range: 0-0`, as ECR stops advancing it after the second."""
    proxy: dict[str, Any] = {"handler": "reverse_proxy", "upstreams": [{"dial": upstream}]}
    if stuck_range:
        proxy["headers"] = {"response": {"set": {"Range": ["0-0"]}}}
    handlers = ([{"handler": "request_body", "max_size": body_limit}] if body_limit else []) + [proxy]
    return {
        "admin": {"disabled": True},
        "logging": {
            "logs": {"default": {"writer": {"output": "file", "filename": str(log)}, "encoder": {"format": "json"}}}
        },
        "apps": {
            "http": {
                "servers": {
                    "proxy": {
                        "listen": [f"127.0.0.1:{port}"],
                        "read_timeout": deadline,
                        "automatic_https": {"disable": True},
                        "logs": {},
                        "routes": [{"handle": handlers}],
                    }
                }
            }
        },
    }


def handled(log: Path) -> list[dict[str, Any]]:
    requests = []
    for line in log.read_text().splitlines():
        entry = json.loads(line)
        if entry.get("msg") == "handled request":
            request = entry["request"]
            requests.append(
                {"method": request["method"], "status": entry["status"], "seconds": round(entry["duration"], 3)}
            )
    return requests


def main(args: dict[str, Any]) -> dict[str, Any]:
    throttle(args["rate"])
    work = Path(tempfile.mkdtemp(prefix="gz-slow-link-"))
    caddy = shutil.which("caddy")
    assert caddy, "caddy is needed (.ci/setup installs Debian's caddy package)"
    env = {**os.environ, "XDG_DATA_HOME": str(work / "data"), "XDG_CONFIG_HOME": str(work / "config")}
    outcome: dict[str, Any] = {}
    with running_registry(work / "registry") as url:
        port = free_port()
        log = work / "caddy.log"
        config = work / "caddy.json"
        settings = {key: args[key] for key in ("body_limit", "stuck_range") if key in args}
        config.write_text(
            json.dumps(caddy_config(port, url.removeprefix("http://"), args["deadline"], log, **settings))
        )
        proxy = subprocess.Popen(
            [caddy, "run", "--config", str(config)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_for_port(port)
            registry = Registry(f"http://127.0.0.1:{port}", **args["client"])
            started = time.monotonic()
            try:
                stats = push_layout(Layout(Path(args["layout"])), registry, lambda ref: ("proxied/image", "1.0"))
                outcome.update(pushed=True, uploaded=stats.uploaded, images=stats.images)
            except GreenzoneError as error:
                outcome.update(pushed=False, error=str(error), hint=error.hint)
            outcome["seconds"] = round(time.monotonic() - started, 2)
            # What the registry holds, asked of it directly, past the proxy.
            outcome["stored"] = Registry(url).manifest_digest("proxied/image", "1.0")
        finally:
            proxy.terminate()
            proxy.wait(timeout=10)
        outcome["requests"] = handled(log)
    shutil.rmtree(work, ignore_errors=True)
    return outcome


if __name__ == "__main__":
    print(json.dumps(main(json.loads(Path(sys.argv[1]).read_text()))))

"""`greenzone upgrade`, `rollback` and `upgrade --finalize` after a real install on a throw-away Debian
host over real SSH.

The install and the upgrade run as in test_reset.py: `cluster` and `gpu` tasks skipped (no kernel here
runs k3s), so the Helm releases, the pushes into Harbor, the health gates and the Helm revisions a
rollback needs are not exercised here; the plan, the preflight, the phases on the node (the new k3s
binary copied, the bootstrap images rebuilt), the record kept for a rollback, the resume after a stop,
the refusals and the node side of --finalize are. The plan is also made inside `unshare --net`: it
needs nothing but the drive.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.deploy import answers_text, make_bundle, ssh_node
from tests.support.paths import REPO
from tests.support.testhost import TestHost, missing_tools, running_host, ssh_key

pytestmark = [pytest.mark.slow, pytest.mark.skipif(missing_tools() is not None, reason=str(missing_tools()))]

FORCE = ["--force-preflight", "cpu,os", "--force-preflight", "disk k3s data dir,memory"]
SKIP = ["--skip-tags", "cluster", "--skip-tags", "gpu"]
NEW_OLLAMA = "docker.io/ollama/ollama:0.13.0"


def greenzone(state: Path, *args: str, offline: bool = False) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "greenzone", "--state-dir", str(state), *args]
    return subprocess.run(
        (["unshare", "--net", "--"] if offline else []) + command,
        capture_output=True, text=True, cwd=REPO, stdin=subprocess.DEVNULL, timeout=600, check=False,
        env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PYTHONPATH": str(REPO / "installer"), "NO_COLOR": "1",
             "COLUMNS": "200", "HOME": str(state.parent)},
    )  # fmt: skip


def envelope(run: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert "Traceback" not in run.stderr, run.stderr
    data: dict[str, Any] = json.loads(run.stdout)
    return data


def checks(data: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {item["name"]: item for item in data["checks"]}


def snapshot(state: Path) -> dict[str, str]:
    """Every file under the state directory but the logs, by content: what "nothing changed" means."""
    return {
        str(path.relative_to(state)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(state.rglob("*"))
        if path.is_file() and "logs" not in path.relative_to(state).parts and path.name != "install.log"
    }


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestHost]:
    work = tmp_path_factory.mktemp("upgrade-host")
    with running_host(work / "root", ssh_key(work)) as running:
        yield running


def test_upgrade_plans_refuses_resumes_records_and_finalizes(tmp_path: Path, host: TestHost) -> None:
    old = make_bundle(tmp_path / "bundle-1", product_version="1.0.0")
    answers = tmp_path / "site.yaml"
    answers.write_text(answers_text(old, [ssh_node(host.port, host.key, name="gz-1")]))
    state = tmp_path / "state"
    done = greenzone(state, "install", "--answers", str(answers), "--yes", *SKIP, *FORCE)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    old_k3s = host.path("usr/local/bin/k3s").read_bytes()
    new = make_bundle(
        tmp_path / "bundle-2", product_version="1.1.0", k3s="v1.35.9+k3s1", pushed=(NEW_OLLAMA,), signed_like=old
    )

    # Nothing installed in another state directory: a clear refusal, exit 3.
    empty = greenzone(tmp_path / "elsewhere", "upgrade", "--bundle", str(new), "--check")
    assert empty.returncode == 3 and "nothing is installed" in empty.stderr and "Traceback" not in empty.stderr

    # The plan, made offline: versions, images, the k3s order; health fails here (no cluster), so the
    # upgrade is refused and names the checks to accept; nothing changes.
    before = snapshot(state)
    plan = greenzone(state, "upgrade", "--bundle", str(new), "--check", "--json", offline=True)
    data = envelope(plan)
    assert plan.returncode == 2, plan.stdout[-2000:]
    found = checks(data)
    k3s = next(item for item in data["data"]["plan"]["components"] if item["name"] == "k3s")
    assert (k3s["old"], k3s["new"], k3s["verdict"]) == ("v1.34.1+k3s1", "v1.35.9+k3s1", "upgraded")
    images = data["data"]["plan"]["images"]
    assert [item["ref"] for item in images["added"]] == [NEW_OLLAMA]
    assert [item["ref"] for item in images["removed"]] == ["docker.io/ollama/ollama:0.12.10"]
    assert images["unchanged"] == 2 and images["bytes_to_push"] > 0  # the bootstrap images kept their digests
    assert found["bundle signature"]["status"] == "pass" and found["k3s version"]["status"] == "pass"
    assert (
        found["health before upgrade"]["status"] == "fail"
        and "--accept-failing" in found["health before upgrade"]["remedy"]
    )
    failing = data["data"]["health_failing"]
    assert failing and data["data"]["verdict"] == "refused"
    assert snapshot(state) == before and not (state / "upgrades").exists()

    # A bundle that skips a k3s minor version is refused with the bundle to use first.
    skipping = make_bundle(tmp_path / "bundle-3", k3s="v1.36.1+k3s1", signed_like=old)
    refused = checks(envelope(greenzone(state, "upgrade", "--bundle", str(skipping), "--check", "--json")))
    assert refused["k3s version"]["status"] == "fail" and "v1.35.x first" in refused["k3s version"]["remedy"]
    # A bundle signed by another vendor key does not verify with the site's key.
    foreign = make_bundle(tmp_path / "bundle-4", k3s="v1.35.9+k3s1")
    assert (
        checks(envelope(greenzone(state, "upgrade", "--bundle", str(foreign), "--check", "--json")))[
            "bundle signature"
        ]["status"]
        == "fail"
    )

    # Without --yes on no terminal: refused, nothing changed.
    accept = [arg for name in failing for arg in ("--accept-failing", name)]
    unconfirmed = greenzone(state, "upgrade", "--bundle", str(new), *accept, *SKIP)
    assert unconfirmed.returncode == 3 and "--yes" in unconfirmed.stderr and snapshot(state) == before

    # Stopped at the node's preflight (its failures not forced this time): recorded, the installed
    # records still name the old bundle's k3s on the node.
    stopped = greenzone(state, "upgrade", "--bundle", str(new), "--yes", "--json", *accept, *SKIP)
    data = envelope(stopped)
    assert stopped.returncode == 2, stopped.stdout[-3000:]
    record = data["data"]["record"]
    assert record["outcome"] == "failed" and record["failed_phase"] == "preflight"
    assert record["revisions"] is None and "--skip-tags cluster" in record["revisions_problem"]
    assert record["cluster_skipped"] is True and set(record["accepted"]) == set(failing)
    assert host.path("usr/local/bin/k3s").read_bytes() == old_k3s
    folder = state / "upgrades" / record["id"]
    assert (folder / "previous" / "bundle.yaml").read_bytes() == (old / "bundle.yaml").read_bytes()
    assert (folder / "previous" / "values" / "greenzone-inference.yaml").is_file()

    # Another bundle cannot start while this one is open.
    other = greenzone(state, "upgrade", "--bundle", str(skipping), "--check")
    assert other.returncode == 3 and "did not finish" in other.stderr

    # The same command resumes the same upgrade (same record, the same plan against the old bundle).
    resumed = greenzone(state, "upgrade", "--bundle", str(new), "--yes", "--json", *accept, *SKIP, *FORCE)
    data = envelope(resumed)
    assert resumed.returncode in (0, 1), resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert data["data"]["record"]["id"] == record["id"] and data["data"]["record"]["outcome"] == "succeeded"
    assert data["data"]["plan"]["product"] == {"old": "1.0.0", "new": "1.1.0"}
    phases = [item["name"] for item in data["checks"] if item["group"] == "deploy"]
    assert phases.index("images") < phases.index("registry") < phases.index("k3s") < phases.index("inference")
    assert host.path("usr/local/bin/k3s").read_bytes() == (new / "bin" / "k3s").read_bytes()
    assert (state / "installed-bundle.yaml").read_bytes() == (new / "bundle.yaml").read_bytes()
    assert yaml.safe_load((state / "installed-answers.yaml").read_text())["bundle"]["path"] == str(new)
    assert (folder / "previous" / "bundle.yaml").read_bytes() == (old / "bundle.yaml").read_bytes()
    assert (folder / "record.json").stat().st_mode & 0o077 == 0

    # Again: the installed bundle, nothing to do, and it says so.
    again = greenzone(state, "upgrade", "--bundle", str(new), "--json")
    assert again.returncode == 0 and envelope(again)["data"]["verdict"] == "unchanged"

    # The history: `greenzone status` from the state directory alone.
    shown = envelope(greenzone(state, "status", "--json"))
    assert shown["data"]["version"] == "1.1.0" and shown["data"]["bundle"] == str(new)
    (history,) = shown["data"]["history"]
    assert (history["from_product"], history["to_product"], history["outcome"]) == ("1.0.0", "1.1.0", "succeeded")
    assert ["k3s", "pass"] in history["phases"] and history["finished"]
    assert "1.0.0 → 1.1.0: succeeded" in checks(shown)[f"upgrade {record['id']}"]["detail"]

    # No Helm revisions were recorded (no cluster): a rollback refuses and says how by hand.
    rollback = greenzone(state, "rollback", "--yes")
    assert rollback.returncode == 3 and "helm rollback" in rollback.stderr

    # --finalize lists the old Ollama image and nothing the running version uses, but refuses: this
    # upgrade skipped the cluster tasks, so no release moved off the previous images.
    check = greenzone(state, "upgrade", "--finalize", "--check", "--json")
    listed = envelope(check)
    removed = envelope(plan)["data"]["plan"]["images"]["removed"][0]["digest"]
    assert listed["data"]["images"] == [{"ref": "docker.io/ollama/ollama:0.12.10", "digest": removed}]
    assert check.returncode == 2 and checks(listed)["cluster tasks skipped"]["status"] == "fail"
    assert not (state / "upgrades" / record["id"] / "record.json").read_text().count('"finalized": true')

    # The node side of --finalize (its `cluster` tasks, containerd's images, skipped without a
    # kubeconfig): a listed model file goes from the bundle copy, the store and the seeder's checks;
    # the running model's file stays; a second run changes nothing.
    from greenzone.answers.files import load_valid_answers
    from greenzone.commands.reset import play_on_nodes
    from greenzone.statedir import StateDir

    old_files = [
        host.path(f"var/lib/greenzone/{where}/ollama/blobs/old")
        for where in ("bundle/models", "model-store", "model-store/.seed/stamps")
    ]
    for path in old_files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("the previous model's")
    kept = host.path("var/lib/greenzone/model-store/ollama/blobs/kept")
    kept.write_text("the running model's")
    installed = load_valid_answers(state / "installed-answers.yaml")
    extravars = {
        "finalize_images": [f"docker.io/ollama/ollama@{removed}"],
        "finalize_model_files": ["ollama/blobs/old"],
    }
    for changes in (1, 0):  # one task (three files), then none
        progress, _ = play_on_nodes(StateDir(state), installed, "finalize.yml", "finalize", extravars, check=False)
        assert progress.outcome == "successful" and progress.changed == changes, [f.line() for f in progress.failures]
    assert not any(path.exists() for path in old_files) and kept.read_text() == "the running model's"

    # After a rollback the records name an older bundle while the node keeps the newer k3s: the k3s
    # role refuses to put an older k3s on a node, whatever the records say.
    host.path("usr/local/bin/k3s").write_text('#!/bin/sh\necho "k3s version v1.35.9+k3s1 (5b1f8b6e)"\n')
    host.path("usr/local/bin/k3s").chmod(0o755)
    down = greenzone(state, "install", "--answers", str(answers), "--yes", *SKIP, *FORCE)
    assert down.returncode == 2, down.stdout[-3000:]
    assert "Kubernetes cannot be downgraded" in down.stdout and "v1.35.9" in down.stdout
    assert "stand-in k3s" not in host.path("usr/local/bin/k3s").read_text()  # the older binary was not copied


def test_a_delta_is_made_whole_from_the_appliance_and_upgrades_like_the_whole_bundle(
    tmp_path: Path, host: TestHost
) -> None:
    """A delta of B built against A, at a site that no longer has A's drive: the upgrade brings what
    the delta leaves out from the appliance itself, the image blobs from the registry (a real
    `docker-registry` standing in for Harbor, into which A's layout is pushed as the install's push
    would: the cluster tasks are skipped here), the model files from the GPU node over SSH, the charts
    and helm's archive from the state directory's copies. What is nowhere on site is refused first,
    by name, before any change; `--check` brings nothing; the upgrade then ends where the whole B's
    would, every brought file B's bytes."""
    from greenzone.atomic import write_text_atomic
    from greenzone.bundle.delta import thin
    from greenzone.bundle.manifest import read_manifest
    from greenzone.bundle.oci import Layout
    from greenzone.bundle.registry import Registry, push_layout
    from greenzone.refs import mirror_repository
    from tests.support.deploy import sign_bundle_with
    from tests.support.registry import running_registry

    old = make_bundle(tmp_path / "bundle-a", product_version="2.0.0", k3s="v1.35.9+k3s1")
    answers = tmp_path / "site.yaml"
    answers.write_text(answers_text(old, [ssh_node(host.port, host.key, name="gz-1")]))
    state = tmp_path / "state"
    done = greenzone(state, "install", "--answers", str(answers), "--yes", *SKIP, *FORCE)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    whole = make_bundle(
        tmp_path / "bundle-b", product_version="2.1.0", k3s="v1.35.10+k3s1", pushed=(NEW_OLLAMA,), signed_like=old
    )
    delta = tmp_path / "delta-b"
    subprocess.run(["cp", "-a", str(whole), str(delta)], check=True)
    write_text_atomic(delta / "bundle.yaml", thin(delta, read_manifest(delta), old).to_yaml())
    sign_bundle_with(delta, old.with_name(old.name + ".key"))
    left_out = [item.path for item in read_manifest(delta).from_base()]
    sources = {path.split("/")[0] for path in left_out}
    assert {"images", "models", "charts", "k3s"} <= sources, sources  # every kind of site copy is needed
    kept_chart = next(item for item in read_manifest(delta).from_base() if item.path.startswith("charts/"))
    model = next(path for path in left_out if path.startswith("models/"))
    on_node = host.path("var/lib/greenzone/bundle/" + model)
    assert on_node.read_bytes() == (whole / model).read_bytes()  # the install copied it to the GPU node

    with running_registry(tmp_path / "harbor") as harbor, running_registry(tmp_path / "empty") as empty:
        push_layout(Layout(old / "images"), Registry(harbor), mirror_repository)  # as the install's push would
        subprocess.run(["rm", "-rf", str(old)], check=True)  # A's drive is gone; its key files stay beside it
        endpoint = ["--endpoint", f"registry={harbor}"]
        # A registry without A's images, a model file gone from the node, a chart's copy gone from the
        # state directory: refused before any change, each named.
        on_node.rename(on_node.with_name("moved-away"))
        (state / "bundle-files" / kept_chart.sha256).rename(state / "moved-away")
        before = snapshot(state)
        refused = envelope(
            greenzone(
                state, "upgrade", "--bundle", str(delta), "--check", "--json", *SKIP, "--endpoint", f"registry={empty}"
            )
        )
        row = checks(refused)["delta bundle"]
        assert row["status"] == "fail" and "nowhere on this appliance" in row["detail"], row
        assert "bundle complete" in row["remedy"] and "whole bundle" in row["remedy"]
        assert kept_chart.path in row["detail"] and "images/blobs/sha256/" in row["detail"]
        assert "lacks" in row["detail"] and model.rsplit("/", 1)[1] in row["detail"]
        assert snapshot(state) == before and not any((delta / path).exists() for path in left_out)

        # What the install left: A's images in "Harbor", the model on the node, the copy kept.
        on_node.with_name("moved-away").rename(on_node)
        (state / "moved-away").rename(state / "bundle-files" / kept_chart.sha256)
        planned = envelope(greenzone(state, "upgrade", "--bundle", str(delta), "--check", "--json", *SKIP, *endpoint))
        row = checks(planned)["delta bundle"]
        assert row["status"] == "pass" and f"the {len(left_out)} files" in row["detail"], row
        assert "from Harbor" in row["detail"] and "GPU node" in row["detail"] and "state directory" in row["detail"]
        assert not any((delta / path).exists() for path in left_out)  # --check brought nothing

        failing = planned["data"]["health_failing"]
        accept = [arg for name in failing for arg in ("--accept-failing", name)]
        upgraded = greenzone(
            state, "upgrade", "--bundle", str(delta), "--yes", "--json", *accept, *SKIP, *FORCE, *endpoint
        )
    data = envelope(upgraded)
    assert data["data"]["record"]["outcome"] == "succeeded", upgraded.stdout[-3000:]
    row = checks(data)["delta files"]
    assert row["status"] == "pass" and f"{len(left_out)} files" in row["detail"], row
    assert "delta files: successful" in upgraded.stderr  # said as it happened (stderr under --json)
    assert host.path("usr/local/bin/k3s").read_bytes() == (whole / "bin" / "k3s").read_bytes()
    for path in left_out:  # every file brought from the site is what the whole B carries
        assert (delta / path).read_bytes() == (whole / path).read_bytes(), path
    assert not (delta / ".greenzone-site-files").exists()
    verified = greenzone(state, "bundle", "verify", str(delta), "--key", f"{old}.pub")
    assert verified.returncode == 0, verified.stdout[-2000:]  # whole now: the next delta's base

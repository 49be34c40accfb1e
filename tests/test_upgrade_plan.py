"""The upgrade's pure core: version order, the plan, its preflight rules, the rollback steps and what
`--finalize` deletes. Manifests are built with the bundle's own model classes, answers from the
examples; no file, cluster or registry is read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from greenzone.answers.files import load_valid_answers
from greenzone.answers.model import Answers
from greenzone.bundle.manifest import BundleFile, BundleImage, BundleModel, Component, Manifest
from greenzone.preflight.facts_model import DiskFacts
from greenzone.results import Check, Report, Status
from greenzone.upgrade.finalize import finalize_plan, running_images
from greenzone.upgrade.history import Revision, UpgradeRecord
from greenzone.upgrade.plan import ReleaseValues, UpgradePlan, build_plan
from greenzone.upgrade.rollback import rollback_steps, step_checks
from greenzone.upgrade.rules import UpgradeInputs, health_gate, upgrade_checks
from greenzone.upgrade.versions import compare, k3s_refusal, parse_version
from tests.support.paths import EXAMPLES

D = "sha256:" + "1" * 64


def digest(n: int) -> str:
    return f"sha256:{n:064x}"


def manifest(
    product: str = "1.0.0",
    *,
    k3s: str = "v1.35.9+k3s1",
    charts: dict[str, str] | None = None,
    images: Sequence[tuple[str, int]] = (("docker.io/ollama/ollama:0.12.10", 1),),
    models: Sequence[tuple[str, int, list[str]]] = (("gemma3:4b", 100, ["models/ollama/blobs/sha256-aa"]),),
) -> Manifest:
    charts = charts or {"gpu-operator": "v26.7.0", "harbor": "1.19.1", "greenzone-inference": "0.2.0"}
    components = [Component(name="k3s", version=k3s, kind="binary", paths=["bin/k3s"])]
    components += [
        Component(name=name, version=v, kind="chart", paths=[f"charts/{name}.tgz"]) for name, v in charts.items()
    ]
    components += [Component(name=name, version="files", kind="model", paths=paths) for name, _, paths in models]
    sizes = {path: size for _, size, paths in reversed(models) for path in paths}  # a shared file: its first model's
    files = [BundleFile(path=path, size=size, sha256="0" * 64) for path, size in sizes.items()]
    return Manifest(
        format_version=1,
        product_version=product,
        components=components,
        images=[BundleImage(ref=ref, digest=digest(n)) for ref, n in images],
        models=[BundleModel(name=name, engine="ollama", size_bytes=size, vram_bytes=size) for name, size, _ in models],
        files=files,
    )


@pytest.fixture(scope="module")
def answers() -> Answers:
    return load_valid_answers(EXAMPLES / "single-node-ollama.yaml")


def releases(old: dict[str, object] | None, new: dict[str, object]) -> list[ReleaseValues]:
    return [ReleaseValues("greenzone-inference", "greenzone-inference", "greenzone-inference", new, old)]


def test_versions_order_like_semver_and_k3s_revisions() -> None:
    assert compare("v1.35.9+k3s1", "v1.35.9+k3s2") == 1
    assert compare("1.19.1", "1.18.9") == -1
    assert compare("0.2.0-rc.1", "0.2.0") == 1  # a release after its candidate
    assert compare("1.0.0-alpha", "1.0.0-1") == -1  # numeric identifiers sort before alphanumeric ones
    assert compare("files", "files") == 0 and compare("files", "sha256:ab") is None
    assert parse_version("v26.7.0") is not None and parse_version("latest") is None


@pytest.mark.parametrize(
    ("old", "new", "words"),
    [
        ("v1.35.9+k3s1", "v1.37.1+k3s1", "upgrade with a bundle carrying k3s v1.36.x first"),
        ("v1.35.9+k3s1", "v1.34.2+k3s1", "cannot be downgraded"),
        ("v1.35.9+k3s2", "v1.35.9+k3s1", "cannot be downgraded"),
        ("v1.35.9+k3s1", "v2.0.0+k3s1", "v1.36.x first"),
    ],
)
def test_k3s_refuses_downgrades_and_skipped_minors(old: str, new: str, words: str) -> None:
    refusal = k3s_refusal(old, new)
    assert refusal is not None and words in " ".join(refusal)


@pytest.mark.parametrize(("old", "new"), [("v1.35.9+k3s1", "v1.36.2+k3s1"), ("v1.35.1+k3s1", "v1.35.9+k3s1")])
def test_k3s_allows_one_minor_or_a_patch(old: str, new: str) -> None:
    assert k3s_refusal(old, new) is None


def test_plan_lists_versions_values_images_models_and_the_k3s_order(answers: Answers) -> None:
    old = manifest(images=[("docker.io/ollama/ollama:0.12.10", 1), ("docker.io/goharbor/harbor-core:v2.15.1", 2)])
    new = manifest(
        "1.1.0",
        k3s="v1.36.2+k3s1",
        charts={"gpu-operator": "v26.7.0", "harbor": "1.19.1", "greenzone-inference": "0.3.0"},
        images=[("docker.io/ollama/ollama:0.13.0", 3), ("docker.io/goharbor/harbor-core:v2.15.1", 2)],
        models=[
            ("gemma3:4b", 100, ["models/ollama/blobs/sha256-aa"]),
            ("qwen3:8b", 300, ["models/ollama/blobs/sha256-bb"]),
        ],
    )
    plan = build_plan(
        old,
        new,
        answers,
        releases(
            {"ollama": {"keepAlive": "5m"}, "admin": {"password": "old"}},
            {"ollama": {"keepAlive": "30m"}, "admin": {"password": "new"}},
        ),
        bytes_to_push=5 * 2**20,
    )
    data = plan.to_json()
    assert data["product"] == {"old": "1.0.0", "new": "1.1.0"}
    k3s = next(item for item in data["components"] if item["name"] == "k3s")
    assert (k3s["old"], k3s["new"], k3s["verdict"]) == ("v1.35.9+k3s1", "v1.36.2+k3s1", "upgraded")
    (release,) = data["releases"]
    assert release["chart"]["verdict"] == "upgraded" and release["restarts"] and "model API" in release["interruption"]
    keys = {change["key"]: change for change in release["values"]}
    assert keys["ollama.keepAlive"] == {"key": "ollama.keepAlive", "old": "'5m'", "new": "'30m'"}
    masked = keys["admin.password"]
    assert masked["old"] == masked["new"] and set(masked["old"]) == {"*"}  # never the password itself
    assert [image["ref"] for image in data["images"]["added"]] == ["docker.io/ollama/ollama:0.13.0"]
    assert [image["ref"] for image in data["images"]["removed"]] == ["docker.io/ollama/ollama:0.12.10"]
    assert data["images"]["unchanged"] == 1 and data["images"]["bytes_to_push"] == 5 * 2**20
    assert [(m["name"], m["verdict"]) for m in data["models"]] == [("gemma3:4b", "same"), ("qwen3:8b", "added")]
    assert data["model_bytes_added"] == 300
    assert data["k3s_order"] and all(row["role"] in ("server", "agent") for row in data["k3s_order"])
    rows = {check.name: check.detail for check in plan.checks()}
    assert "one at a time" in rows["k3s upgrade order"] and "k3s itself is never downgraded" in rows["note"]
    assert "restarts in place on the only node" in rows["k3s upgrade order"]  # the single-node example
    assert "5.0 MiB to push" in rows["images"] and "--finalize" in rows["images"]


def test_servers_go_before_agents_one_at_a_time() -> None:
    multi = load_valid_answers(EXAMPLES / "multi-node-vllm.yaml")
    plan = build_plan(manifest(), manifest(k3s="v1.35.10+k3s1"), multi, [], bytes_to_push=0)
    roles = [role for _, role in plan.k3s_order]
    assert roles == sorted(roles, key=lambda role: role != "server") and "server" in roles
    assert "drained first" in next(check.detail for check in plan.checks() if check.name == "k3s upgrade order")


def test_unchanged_release_does_not_restart_and_a_missing_record_counts_as_changed(answers: Answers) -> None:
    same = build_plan(manifest(), manifest(), answers, releases({"a": 1}, {"a": 1}), bytes_to_push=0)
    assert not same.releases[0].restarts and "nothing restarts" in same.checks()[-2].detail
    lost = build_plan(manifest(), manifest(), answers, releases(None, {"a": 1}), bytes_to_push=0)
    assert lost.releases[0].restarts and "record is missing" in _row(lost, "release greenzone-inference")


def _row(plan: UpgradePlan, name: str) -> str:
    return next(check.detail for check in plan.checks() if check.name == name)


def _inputs(plan: UpgradePlan, **changes: object) -> UpgradeInputs:
    defaults: dict[str, object] = {
        "plan": plan,
        "verification": Report("bundle verify", (Check("signature", Status.PASS, "ok"),)),
        "running_installer": "0.1.0",
        "disks": [DiskFacts("k3s data dir", "/var/lib/rancher/k3s", "/var/lib", 100 * 2**30, 200 * 2**30)],
        "health": Report("health", (Check("API", Status.PASS, "up"),)),
    }
    return UpgradeInputs(**{**defaults, **changes})  # type: ignore[arg-type]


def _by_name(checks: list[Check]) -> dict[str, Check]:
    return {check.name: check for check in checks}


def test_preflight_passes_a_sound_upgrade(answers: Answers) -> None:
    plan = build_plan(manifest(), manifest("1.1.0", k3s="v1.36.0+k3s1"), answers, [], bytes_to_push=2**30)
    checks = upgrade_checks(_inputs(plan), "0.1.0")
    assert {check.status for check in checks} == {Status.PASS}, checks
    assert "one step" in _by_name(checks)["k3s version"].detail


def test_preflight_refuses_each_problem_with_a_fix(answers: Answers) -> None:
    new = manifest(
        "1.1.0",
        k3s="v1.37.0+k3s1",
        charts={"gpu-operator": "v26.3.0", "harbor": "1.19.1", "greenzone-inference": "0.2.0"},
        models=[("gemma3:4b", 100, ["models/a"]), ("big", 50 * 2**30, ["models/big"])],
    )
    rel = [ReleaseValues("gpu-operator", "gpu-operator", "gpu-operator", {}, {})]
    plan = build_plan(manifest(), new, answers, rel, bytes_to_push=60 * 2**30)
    disks = [
        DiskFacts("k3s data dir", "/var/lib/rancher/k3s", "/var/lib", 100 * 2**30, 200 * 2**30),
        DiskFacts("model store", "/var/lib/greenzone/model-store", "/var/lib", 10 * 2**30, 200 * 2**30),
    ]
    verification = Report("bundle verify", (Check("file models/big", Status.FAIL, "sha256 differs"),))
    health = Report("health", (Check("Harbor", Status.FAIL, "down"), Check("API", Status.PASS, "up")))
    checks = _by_name(
        upgrade_checks(
            _inputs(plan, disks=disks, verification=verification, health=health, running_installer="0.1.0"), "0.2.0"
        )
    )
    for name in (
        "bundle signature",
        "installer version",
        "k3s version",
        "chart gpu-operator",
        "disk for new images",
        "disk for new models",
        "health before upgrade",
    ):
        assert checks[name].status is Status.FAIL and checks[name].remedy, name
    assert "install.sh upgrade" in checks["installer version"].remedy
    assert "132.0 GiB needed" in checks["disk for new images"].detail
    allowed = _by_name(upgrade_checks(_inputs(plan, allow_downgrade=True), "0.1.0"))
    assert allowed["chart gpu-operator"].status is Status.WARN
    older = build_plan(manifest("2.0.0"), manifest("1.9.0"), answers, [], bytes_to_push=0)
    assert _by_name(upgrade_checks(_inputs(older), None))["product version"].status is Status.FAIL
    assert _by_name(upgrade_checks(_inputs(older, allow_downgrade=True), None))["product version"].status is Status.WARN


def test_health_gate_takes_only_named_failures() -> None:
    health = Report("health", (Check("Harbor", Status.FAIL, "down"), Check("GPU 0 temperature", Status.FAIL, "hot")))
    assert [c.status for c in health_gate(health, frozenset())] == [Status.FAIL]
    partly = health_gate(health, frozenset({"Harbor"}))
    assert partly[-1].status is Status.FAIL and "GPU 0 temperature" in partly[-1].detail
    both = health_gate(health, frozenset({"Harbor", "GPU 0 temperature"}))
    assert [c.status for c in both] == [Status.WARN]
    typo = health_gate(health, frozenset({"Harbour", "Harbor", "GPU 0 temperature"}))
    assert typo[0].name == "--accept-failing" and typo[0].status is Status.FAIL and "Harbour" in typo[0].detail
    assert health_gate(None, frozenset())[0].status is Status.FAIL


def test_rollback_returns_each_release_newest_first() -> None:
    recorded = (
        Revision("gpu-operator", "gpu-operator", 3, "v26.3.0"),
        Revision("harbor", "harbor", 2, "1.19.1"),
        Revision("monitoring", "monitoring", None),
        Revision("greenzone-inference", "greenzone-inference", 5, "0.2.0"),
    )
    now = {
        "gpu-operator": (4, "v26.7.0"),
        "harbor": (2, "1.19.1"),
        "monitoring": (1, "88.5.3"),
        "greenzone-inference": (6, "0.3.0"),
    }
    steps = rollback_steps(recorded, now)
    assert [(s.release, s.action, s.target) for s in steps] == [
        ("greenzone-inference", "rollback", 5),
        ("monitoring", "uninstall", None),
        ("harbor", "none", 2),
        ("gpu-operator", "rollback", 3),
    ]
    gone = rollback_steps(recorded, {**now, "harbor": None})
    assert next(step for step in gone if step.release == "harbor").action == "missing"
    # Harbor's database moved forward with a new chart: kept, with the way back by hand.
    moved = rollback_steps(recorded, {**now, "harbor": (3, "1.20.0")})
    harbor = next(step for step in moved if step.release == "harbor")
    assert harbor.action == "kept"
    (row,) = [check for check in step_checks(moved, done=False) if check.name == "release harbor"]
    assert row.status is Status.WARN and "database" in row.detail and "helm rollback harbor 2" in row.remedy


def test_the_upgrade_record_reads_back() -> None:
    record = UpgradeRecord(
        id="20261126T160000Z",
        started="2026-11-26T16:00:00+00:00",
        from_product="1.0.0",
        to_product="1.1.0",
        bundle="/media/usb/bundle",
        bundle_sha256="ab" * 32,
        revisions=(Revision("harbor", "harbor", 2, "1.19.1"), Revision("monitoring", "monitoring", None)),
    )
    assert UpgradeRecord.from_json(record.to_json()) == record


def test_finalize_deletes_only_what_nothing_running_uses() -> None:
    previous = manifest(
        images=[
            ("docker.io/ollama/ollama:0.12.10", 1),
            ("docker.io/goharbor/harbor-core:v2.15.1", 2),
            ("docker.io/library/alias:1", 3),
        ],
        models=[
            ("gemma3:4b", 100, ["models/ollama/blobs/sha256-shared", "models/ollama/manifests/gemma3/4b"]),
            ("llama3:8b", 400, ["models/ollama/blobs/sha256-shared", "models/ollama/blobs/sha256-llama"]),
            ("still-served", 50, ["models/ollama/blobs/sha256-served"]),
        ],
    )
    current = manifest(
        "1.1.0",
        images=[
            ("docker.io/ollama/ollama:0.13.0", 4),
            ("docker.io/goharbor/harbor-core:v2.15.1", 2),
            ("docker.io/library/renamed:1", 3),
        ],
        models=[("qwen3:8b", 300, ["models/ollama/blobs/sha256-shared", "models/ollama/blobs/sha256-qwen"])],
    )
    plan = finalize_plan([previous], current, served=["still-served"])
    assert [image.ref for image in plan.images] == ["docker.io/ollama/ollama:0.12.10"]
    assert plan.kept_images == ("docker.io/library/alias:1",)  # same digest under a new name: in use
    assert set(plan.models) == {"gemma3:4b", "llama3:8b"} and plan.kept_models == ("still-served",)
    assert "ollama/blobs/sha256-shared" not in plan.model_files  # the running qwen3 lists it
    assert set(plan.model_files) == {"ollama/manifests/gemma3/4b", "ollama/blobs/sha256-llama"}
    assert plan.model_bytes == 100 + 400
    assert finalize_plan([current], current, served=[]).empty


def test_finalize_keeps_what_pods_still_run_and_takes_every_unfinalized_version() -> None:
    """A pod the upgrade did not move (the driver DaemonSet waits for a reboot: OnDelete) still runs
    the previous image; two upgrades without --finalize leave two versions, both deleted at once."""
    first = manifest(images=[("nvcr.io/nvidia/driver:580.1", 1), ("docker.io/ollama/ollama:0.11", 5)])
    second = manifest("1.1.0", images=[("nvcr.io/nvidia/driver:580.2", 2), ("docker.io/ollama/ollama:0.12", 6)])
    current = manifest("1.2.0", images=[("nvcr.io/nvidia/driver:580.3", 3), ("docker.io/ollama/ollama:0.13", 7)])
    pods = [
        {
            "spec": {
                "initContainers": [{"image": "busybox"}],
                "containers": [{"image": "nvcr.io/nvidia/driver:580.2"}],
            },
            "status": {"containerStatuses": [{"imageID": f"nvcr.io/nvidia/driver@{digest(2)}"}]},
        },
        {"spec": {"containers": [{"image": "docker.io/ollama/ollama:0.11"}]}, "status": {}},  # not started yet
    ]
    running = running_images(pods)
    assert running.digests == {digest(2)} and "busybox" in running.refs
    plan = finalize_plan([first, second], current, served=[], running=running)
    assert [image.ref for image in plan.images] == ["nvcr.io/nvidia/driver:580.1", "docker.io/ollama/ollama:0.12"]
    assert set(plan.kept_images) == {"nvcr.io/nvidia/driver:580.2", "docker.io/ollama/ollama:0.11"}


def test_a_gate_waits_for_pods_to_settle_and_ignores_what_was_accepted(monkeypatch: pytest.MonkeyPatch) -> None:
    from greenzone.upgrade import session as upgrade

    monkeypatch.setattr(upgrade, "GATE_INTERVAL_S", 0.0)
    rescheduling = Report("health", (Check("pods", Status.FAIL, "2 Pending"), Check("Harbor", Status.FAIL, "down")))
    settled = Report("health", (Check("pods", Status.PASS, "all Running"), Check("Harbor", Status.FAIL, "down")))
    answers = iter([rescheduling, rescheduling, settled])
    assert upgrade.settled_gate("k3s", lambda: next(answers), frozenset({"Harbor"}), settle=60) is None
    stuck = upgrade.settled_gate("k3s", lambda: rescheduling, frozenset({"Harbor"}), settle=0)
    assert stuck is not None and stuck.name == "health gate after k3s" and "pods: 2 Pending" in stuck.detail
    assert "Harbor" not in stuck.detail  # accepted before the upgrade: not this phase's doing


def test_status_shows_what_it_can_and_names_a_damaged_record(run_cli: Any, tmp_path: Path) -> None:
    state = tmp_path / "state"
    good = UpgradeRecord("20261126T100000Z", "2026-11-26T10:00:00+00:00", "1.0.0", "1.1.0", "/b", "0" * 64)
    (state / "upgrades" / good.id).mkdir(parents=True)
    (state / "upgrades" / good.id / "record.json").write_text(json.dumps(good.to_json()))
    (state / "upgrades" / "20261126T110000Z").mkdir()
    (state / "upgrades" / "20261126T110000Z" / "record.json").write_text("null")
    (state / "installed-answers.yaml").write_text("bundle: not-a-mapping\nnodes: 3\n")
    (state / "installed-bundle.yaml").write_text("- a list, not a manifest\n")
    shown = run_cli("status", "--json")  # run_cli points GREENZONE_STATE_DIR at tmp_path/state
    envelope = json.loads(shown.stdout)
    rows = {check["name"]: check for check in envelope["checks"]}
    assert shown.returncode == 2 and "Traceback" not in shown.stderr
    assert (
        rows["upgrade 20261126T110000Z"]["status"] == "fail"
        and "support-bundle" in rows["upgrade 20261126T110000Z"]["remedy"]
    )
    assert "1.0.0 → 1.1.0: running" in rows["upgrade 20261126T100000Z"]["detail"]
    assert rows["installed"]["detail"] == "?: greenzone ? from ?, 0 node(s)"


def test_the_next_upgrade_deletes_what_the_last_one_kept_or_says_why_it_kept_it(tmp_path: Path) -> None:
    """`before_upgrade` with no cluster to ask which images the pods run: it keeps everything, says so
    as a warning (the upgrade goes ahead), and the record still waits for a later `--finalize`."""
    from greenzone.statedir import StateDir
    from greenzone.upgrade import history
    from greenzone.upgrade.cleanup import before_upgrade, waiting

    state = StateDir(tmp_path / "state")
    state.create()
    assert before_upgrade(state, []) == []  # nothing waits: nothing to say
    old = manifest("1.0.0", images=(("docker.io/ollama/ollama:0.12.10", 1),))
    new = manifest("1.1.0", images=(("docker.io/ollama/ollama:0.13.0", 2),))
    record = UpgradeRecord("20261126T100000Z", "2026-11-26T10:00:00+00:00", "1.0.0", "1.1.0", "/b", "0" * 64)
    folder = history.previous_file(state, record, "bundle.yaml")
    folder.parent.mkdir(parents=True)
    folder.write_text(old.to_yaml())
    history.save(state, replace(record, outcome="succeeded", finished="2026-11-26T10:30:00+00:00"))
    state.installed_manifest.write_text(new.to_yaml())
    state.installed_answers.write_text((EXAMPLES / "single-node-ollama.yaml").read_text())
    (check,) = before_upgrade(state, [])
    assert check.name == "what 1.0.0 left" and check.status is Status.WARN
    assert check.detail.startswith("kept: cannot tell which images the pods run")
    assert "--finalize" in check.remedy
    assert [r.id for r in waiting(state)] == [record.id]  # still waiting, nothing deleted

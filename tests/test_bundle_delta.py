"""Delta bundles on real signed test bundles: what `bundle build --base` leaves out (bundle/delta.py's
`thin`, the step the build ends with), `bundle verify` of a delta, `bundle complete` from the base,
`bundle pack` of a delta, and the upgrade refusing a delta that is not whole yet.
`tests/test_bundle_build.py` runs `bundle build --base` itself against a real upstream."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from greenzone.atomic import write_text_atomic
from greenzone.bundle.delta import missing_from_base, thin
from greenzone.bundle.manifest import MANIFEST_NAME, parse_manifest, read_manifest
from tests.support.cli import Run
from tests.support.deploy import make_bundle, public_key, sign_bundle_with

NEW_OLLAMA = "docker.io/ollama/ollama:0.13.0"


@pytest.fixture
def bundles(tmp_path: Path) -> tuple[Path, Path]:
    """(base, delta): the delta is a newer bundle with one image changed, thinned against the base and
    signed with the same vendor key, as `bundle build --base ... --sign-key ...` leaves it."""
    base = make_bundle(tmp_path / "bundle-1", product_version="1.0.0")
    new = make_bundle(tmp_path / "bundle-2", product_version="1.1.0", pushed=(NEW_OLLAMA,), signed_like=base)
    write_text_atomic(new / MANIFEST_NAME, thin(new, read_manifest(new), base).to_yaml())
    sign_bundle_with(new, base.with_name(base.name + ".key"))
    return base, new


def test_a_delta_carries_only_what_its_base_lacks_and_lists_every_file(bundles: tuple[Path, Path]) -> None:
    base, delta = bundles
    manifest = read_manifest(delta)
    left_out = {item.path for item in manifest.from_base()}
    assert manifest.base is not None and manifest.base.product_version == "1.0.0"
    # The bootstrap images' blobs are shared (same content), the new Ollama image's are not.
    shared = {item.path for item in read_manifest(base).files} & {item.path for item in manifest.files}
    assert left_out and left_out <= shared
    for path in left_out:
        assert not (delta / path).exists() and (base / path).is_file()
    carried = [item for item in manifest.files if not item.from_base]
    assert carried and all((delta / item.path).is_file() for item in carried)
    assert "bin/k3s" not in left_out  # random bytes in each test bundle: it differs
    # A whole bundle's manifest reads as before: no delta keys at all.
    assert "from_base" not in (base / MANIFEST_NAME).read_text() and "base:" not in (base / MANIFEST_NAME).read_text()
    assert parse_manifest((delta / MANIFEST_NAME).read_text()) == manifest


def test_verify_names_what_must_come_from_the_base_and_complete_brings_it(
    bundles: tuple[Path, Path], run_cli: Run
) -> None:
    base, delta = bundles
    key = public_key(base)
    verified = run_cli("bundle", "verify", str(delta), "--key", str(key), "--json")
    envelope = json.loads(verified.stdout)
    checks = {check["name"]: check for check in envelope["checks"]}
    assert verified.returncode == 1, verified.stdout  # what it carries verifies; the rest is the base's
    assert checks["files"]["status"] == "pass" and checks["delta"]["status"] == "warn"
    assert "1.0.0" in checks["delta"]["detail"] and "bundle complete" in checks["delta"]["remedy"]

    # Another bundle as the base: refused, nothing copied.
    other = make_bundle(delta.parent / "other", product_version="1.0.0")
    wrong = run_cli("bundle", "complete", str(delta), "--base", str(other), "--key", str(key))
    assert wrong.returncode == 3 and "not the bundle this delta was built against" in wrong.stderr
    assert missing_from_base(delta, read_manifest(delta))

    # The base, with one of the needed files damaged: refused and named.
    damaged = delta.parent / "damaged"
    shutil.copytree(base, damaged)
    victim = read_manifest(delta).from_base()[0].path
    (damaged / victim).write_bytes(b"not the bytes")
    refused = run_cli("bundle", "complete", str(delta), "--base", str(damaged), "--key", str(key))
    assert refused.returncode == 3 and victim in refused.stderr

    done = run_cli("bundle", "complete", str(delta), "--base", str(base), "--key", str(key))
    assert done.returncode == 0, done.stderr
    assert not missing_from_base(delta, read_manifest(delta))
    whole = run_cli("bundle", "verify", str(delta), "--key", str(key), "--json")
    assert whole.returncode == 0, whole.stdout  # every file now, the signed manifest unchanged
    again = run_cli("bundle", "complete", str(delta), "--base", str(base / MANIFEST_NAME), "--key", str(key))
    assert again.returncode == 0 and " 0 of " in again.stdout


def test_what_a_stopped_completion_leaves_is_named_but_never_taken_for_the_bundle(
    bundles: tuple[Path, Path], run_cli: Run
) -> None:
    from greenzone.bundle.delta import COMPLETION_STAGING

    base, delta = bundles
    left_out = [item.path for item in read_manifest(delta).from_base()]
    blob = next(path for path in left_out if path.startswith("images/blobs/"))
    (delta / f"{blob}.part").parent.mkdir(parents=True, exist_ok=True)
    (delta / f"{blob}.part").write_bytes(b"half a layer")  # a download cut short: it resumes
    (delta / blob).with_name(f".{Path(blob).name}.k2j4x9q1.tmp").write_bytes(b"half a copy")
    (delta / COMPLETION_STAGING / "models").mkdir(parents=True)
    (delta / COMPLETION_STAGING / "models" / "file").write_bytes(b"fetched in part")
    verified = run_cli("bundle", "verify", str(delta), "--key", str(public_key(base)), "--json")
    checks = {check["name"]: check for check in json.loads(verified.stdout)["checks"]}
    assert verified.returncode == 1, verified.stdout  # warnings: the delta's and the leftovers'
    assert checks["completion"]["status"] == "warn" and "3 partial file(s)" in checks["completion"]["detail"]
    assert not any(check["status"] == "fail" for check in checks.values()), checks

    # A link named like a leftover is no leftover: refused, never resumed into.
    link = delta / f"{left_out[-1]}.part"
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to("/dev/null")
    linked = run_cli("bundle", "verify", str(delta), "--key", str(public_key(base)), "--json")
    assert linked.returncode == 2 and f"{left_out[-1]}.part" in linked.stdout
    link.unlink()

    # Completing resumes and then removes them all: the whole bundle verifies as whole.
    done = run_cli("bundle", "complete", str(delta), "--base", str(base), "--key", str(public_key(base)))
    assert done.returncode == 0, done.stderr
    assert (
        not (delta / COMPLETION_STAGING).exists()
        and not list(delta.rglob("*.part"))
        and not list(delta.rglob(".*.tmp"))
    )
    assert run_cli("bundle", "verify", str(delta), "--key", str(public_key(base))).returncode == 0

    # Anything else unlisted is still refused, a `.part` of a listed path the delta carries too.
    carried = next(item.path for item in read_manifest(delta).files if not item.from_base)
    (delta / f"{carried}.part").write_bytes(b"not from a completion")
    again = run_cli("bundle", "verify", str(delta), "--key", str(public_key(base)), "--json")
    assert again.returncode == 2 and f"{carried}.part" in again.stdout


def test_a_delta_packs_without_its_base_files(bundles: tuple[Path, Path], run_cli: Run, tmp_path: Path) -> None:
    import tarfile

    base, delta = bundles
    packed = run_cli("bundle", "pack", str(delta), "--out", str(tmp_path / "delta.tar"), "--key", str(public_key(base)))
    assert packed.returncode == 0, packed.stderr
    with tarfile.open(tmp_path / "delta.tar") as tar:
        members = set(tar.getnames())
    manifest = read_manifest(delta)
    assert {item.path for item in manifest.files if not item.from_base} <= members
    assert not members & {item.path for item in manifest.from_base()}


def test_the_upgrade_takes_a_delta_of_the_running_version_once_it_is_whole(
    bundles: tuple[Path, Path], tmp_path: Path
) -> None:
    from greenzone.answers.files import load_valid_answers
    from greenzone.bundle.delta import complete
    from greenzone.deploy.workspace import prepare
    from greenzone.statedir import StateDir
    from greenzone.upgrade.session import UpgradeOptions, UpgradeSession, assess
    from tests.support.deploy import answers_text, ssh_node

    base, delta = bundles
    answers = tmp_path / "site.yaml"
    answers.write_text(answers_text(base, [ssh_node(2222, tmp_path / "key", name="gz-1")]))
    state = StateDir(tmp_path / "state")
    prepare(load_valid_answers(answers), state, source=str(answers), bundle=base)

    def rows() -> dict[str, tuple[str, str, str]]:
        seen = assess(UpgradeSession(state, UpgradeOptions(bundle=delta, skip_tags=("cluster",))))
        return {check.name: (check.status.value, check.detail, check.remedy) for check in seen.checks}

    # Neither the node (nothing listens on its port) nor Harbor answers here: what the delta leaves out
    # is nowhere on site, named; what it carries verifies.
    before = rows()
    assert before["delta bundle"][0] == "fail" and "nowhere on this appliance" in before["delta bundle"][1]
    assert "Harbor could not be asked" in before["delta bundle"][1]
    assert f"bundle complete {delta} --base BASE_DIR" in before["delta bundle"][2]
    assert before["bundle signature"][0] == "pass"
    complete(delta, read_manifest(delta), base)
    after = rows()
    assert after["delta bundle"] == ("pass", "a delta of 1.0.0, whole", "")
    assert after["bundle signature"][0] == "pass"

    # A delta of another version than the one running: refused, whatever the site holds.
    other = make_bundle(tmp_path / "bundle-3", product_version="1.2.0", signed_like=base)
    write_text_atomic(other / MANIFEST_NAME, thin(other, read_manifest(other), delta).to_yaml())
    sign_bundle_with(other, base.with_name(base.name + ".key"))
    seen = assess(UpgradeSession(state, UpgradeOptions(bundle=other, skip_tags=("cluster",))))
    row = next(check for check in seen.checks if check.name == "delta bundle")
    assert row.status.value == "fail" and "the appliance runs 1.0.0" in row.detail and "delta of 1.0.0" in row.remedy


def test_complete_without_base_takes_the_appliance_of_the_state_directory(
    bundles: tuple[Path, Path], run_cli: Run, tmp_path: Path
) -> None:
    from greenzone.answers.files import load_valid_answers
    from greenzone.deploy.workspace import prepare
    from greenzone.statedir import StateDir
    from tests.support.deploy import answers_text, ssh_node

    base, delta = bundles
    key = str(public_key(base))
    state = tmp_path / "state"
    nothing = run_cli("--state-dir", str(state), "bundle", "complete", str(delta), "--key", key)
    assert nothing.returncode == 3 and "nothing is installed" in nothing.stderr and "Traceback" not in nothing.stderr

    # An appliance that runs another version: refused, nothing brought.
    answers = tmp_path / "site.yaml"
    other = make_bundle(tmp_path / "other", product_version="0.9.0", signed_like=base)
    answers.write_text(answers_text(other, [ssh_node(2222, tmp_path / "key", name="gz-1")]))
    prepare(load_valid_answers(answers), StateDir(state), source=str(answers), bundle=other)
    wrong = run_cli("--state-dir", str(state), "bundle", "complete", str(delta), "--key", key)
    assert wrong.returncode == 3 and "runs 0.9.0" in wrong.stderr and "--base" in wrong.stderr
    assert missing_from_base(delta, read_manifest(delta))


def test_inspect_shows_what_a_delta_saves(bundles: tuple[Path, Path], run_cli: Run) -> None:
    _, delta = bundles
    shown = run_cli("bundle", "inspect", str(delta))
    assert shown.returncode == 0, shown.stderr
    assert "a delta of 1.0.0: carries" in shown.stdout and "come from the base" in shown.stdout
    info = json.loads(run_cli("bundle", "inspect", str(delta), "--json").stdout)["delta"]
    assert info["from_base_files"] == len(read_manifest(delta).from_base()) and info["carried_bytes"] > 0


def test_a_delta_names_its_base_the_same_whether_the_site_got_it_whole_or_as_a_delta(
    bundles: tuple[Path, Path],
) -> None:
    """The next delta's base is what the sites run: some got 1.1 whole, some completed its delta. Both
    manifests have one canonical digest, the whole one's sha256, so one delta of 1.1 serves both."""
    import hashlib

    from greenzone.bundle.manifest import ManifestError, parse_manifest

    base, delta = bundles
    whole_text = (base / MANIFEST_NAME).read_text()
    assert read_manifest(base).canonical_digest() == hashlib.sha256(whole_text.encode()).hexdigest()
    completed = read_manifest(delta)
    assert completed.base is not None and completed.base.manifest_sha256 == read_manifest(base).canonical_digest()
    # Once completed, the delta's own manifest names the whole 1.1 as well: the base of the next delta.
    write_text_atomic(
        delta.parent / "whole-2.yaml",
        completed.model_copy(
            update={"base": None, "files": [item.model_copy(update={"from_base": False}) for item in completed.files]}
        ).to_yaml(),
    )
    assert completed.canonical_digest() == hashlib.sha256((delta.parent / "whole-2.yaml").read_bytes()).hexdigest()
    assert thin(delta.parent / "nothing-here", completed, delta).base is not None  # a delta can be a base
    # A manifest that leaves files out without naming a base is refused: it would pass for whole.
    text = (delta / MANIFEST_NAME).read_text()
    without_base = "\n".join(
        line for line in text.splitlines() if not line.startswith(("base:", "  product_version:", "  manifest_sha256:"))
    )
    with pytest.raises(ManifestError, match="from_base"):
        parse_manifest(without_base)


def test_complete_checks_the_delta_first_and_never_writes_outside_it(bundles: tuple[Path, Path], run_cli: Run) -> None:
    base, delta = bundles
    key = str(public_key(base))
    manifest = (delta / MANIFEST_NAME).read_text()
    (delta / MANIFEST_NAME).write_text(manifest.replace("1.1.0", "9.9.9", 1))  # not what the vendor signed
    tampered = run_cli("bundle", "complete", str(delta), "--base", str(base), "--key", key)
    assert tampered.returncode == 3 and "does not verify" in tampered.stderr
    assert missing_from_base(delta, read_manifest(delta))  # nothing copied
    (delta / MANIFEST_NAME).write_text(manifest)
    # A link planted where a left-out file goes would take the copy out of the bundle.
    first = read_manifest(delta).from_base()[0].path
    outside = delta.parent / "outside"
    outside.mkdir()
    parent = (delta / first).parent
    shutil.rmtree(parent, ignore_errors=True)
    parent.parent.mkdir(parents=True, exist_ok=True)
    parent.symlink_to(outside, target_is_directory=True)
    linked = run_cli("bundle", "complete", str(delta), "--base", str(base), "--key", key)
    assert linked.returncode == 3 and "link out of the bundle" in linked.stderr
    assert not any(outside.iterdir())


def test_a_packed_delta_unpacks_and_stays_a_delta(bundles: tuple[Path, Path], run_cli: Run, tmp_path: Path) -> None:
    base, delta = bundles
    key = str(public_key(base))
    assert run_cli("bundle", "pack", str(delta), "--out", str(tmp_path / "d.tar"), "--split", "1MiB").returncode == 0
    site = tmp_path / "site"
    unpacked = run_cli("bundle", "verify", str(tmp_path / "d.tar.sha256"), "--key", key, "--unpack-to", str(site))
    assert unpacked.returncode == 1, unpacked.stdout  # kept: what it carries verifies, the rest is the base's
    assert (site / MANIFEST_NAME).is_file() and missing_from_base(site, read_manifest(site))
    assert run_cli("bundle", "complete", str(site), "--base", str(base), "--key", key).returncode == 0
    assert run_cli("bundle", "verify", str(site), "--key", key).returncode == 0


def test_bundle_delta_makes_the_same_delta_from_a_bundle_already_built(tmp_path: Path, run_cli: Run) -> None:
    """`bundle delta FULL --base` (no download): what it carries, its manifest and its signature, the
    same as `bundle build --base`'s thinning; then completed at the site like any delta. FULL untouched."""
    base = make_bundle(tmp_path / "bundle-1", product_version="1.0.0")
    full = make_bundle(tmp_path / "bundle-2", product_version="1.1.0", pushed=(NEW_OLLAMA,), signed_like=base)
    key, private = public_key(base), base.with_name(base.name + ".key")
    before = sorted(path.relative_to(full) for path in full.rglob("*"))
    out = tmp_path / "delta"
    made = run_cli(
        "bundle", "delta", str(full), "--base", str(base), "--out", str(out),
        "--sign-key", str(private), "--key", str(key),
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert "come from 1.0.0" in made.stdout and "signed:" in made.stdout
    assert sorted(path.relative_to(full) for path in full.rglob("*")) == before
    expected = thin(shutil.copytree(full, tmp_path / "thinned"), read_manifest(full), base)
    assert read_manifest(out) == expected
    carried = {str(path.relative_to(out)) for path in out.rglob("*") if path.is_file()}
    assert carried == {item.path for item in expected.files if not item.from_base} | {MANIFEST_NAME, "bundle.yaml.sig"}
    assert run_cli("bundle", "verify", str(out), "--key", str(key)).returncode == 1  # a delta: the rest is the base's
    assert run_cli("bundle", "complete", str(out), "--base", str(base), "--key", str(key)).returncode == 0
    assert run_cli("bundle", "verify", str(out), "--key", str(key)).returncode == 0

    # Refused with nothing written: an existing output, a delta as FULL, a damaged FULL.
    again = run_cli("bundle", "delta", str(full), "--base", str(base), "--out", str(out), "--sign-key", str(private))
    assert again.returncode == 3 and "not empty" in again.stderr
    thinned = tmp_path / "thinned"
    write_text_atomic(thinned / MANIFEST_NAME, expected.to_yaml())
    nested = run_cli(
        "bundle", "delta", str(thinned), "--base", str(base), "--out", str(tmp_path / "d2"), "--sign-key", str(private)
    )
    assert nested.returncode == 3 and "is itself a delta" in nested.stderr and not (tmp_path / "d2").exists()
    victim = next(item.path for item in expected.files if not item.from_base and item.path.startswith("images/"))
    (full / victim).write_bytes(b"damaged")
    damaged = run_cli(
        "bundle", "delta", str(full), "--base", str(base), "--out", str(tmp_path / "d3"), "--sign-key", str(private)
    )
    assert damaged.returncode == 3 and victim in damaged.stderr and "bundle verify" in damaged.stderr
    assert not (tmp_path / "d3").exists() and not list(tmp_path.glob(".d3.*"))

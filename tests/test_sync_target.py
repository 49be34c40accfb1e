"""Bad cloud targets and overlays get located errors, exit code 3 and no traceback, and nothing is
pushed; the shipped example target loads; an answer file's `cloud:` section works as a target."""

from __future__ import annotations

import shutil
import urllib.request
from pathlib import Path

import pytest
import yaml

from greenzone.errors import AnswersInvalid
from greenzone.sync.target import load_target
from tests.support.cli import Run
from tests.support.paths import EXAMPLES
from tests.support.registry import running_registry
from tests.support.sync import answers_document, write_target


def _problems(path: Path) -> str:
    with pytest.raises(AnswersInvalid) as caught:
        load_target(path)
    return "\n".join(caught.value.details)


def test_the_example_target_and_overlay_load(tmp_path: Path) -> None:
    shutil.copytree(EXAMPLES / "overlays", tmp_path / "overlays")
    (tmp_path / "cloud").mkdir()
    (tmp_path / "cloud" / "config.json").write_text('{"auths": {}}')
    text = (EXAMPLES / "cloud" / "target.yaml").read_text().replace("~/.docker/config.json", "config.json")
    (tmp_path / "cloud" / "target.yaml").write_text(text)
    target = load_target(tmp_path / "cloud" / "target.yaml")
    assert target.registry.host == "123456789012.dkr.ecr.eu-west-1.amazonaws.com"
    assert target.registry.prefix == "greenzone"
    assert set(target.overlay) == {"greenzone-inference", "gpu-operator"}
    assert target.cloud.credentials_file == tmp_path / "cloud" / "config.json"


def test_unknown_key_and_bad_registry_are_located(tmp_path: Path) -> None:
    path = tmp_path / "target.yaml"
    path.write_text("kubeconfig: kube\ncontext: eks\nregistry: https://ecr.example.com/gz\nregion: eu-west-1\n")
    text = _problems(path)
    assert f"{path}:4:1: error: region:" in text
    path.write_text("kubeconfig: kube\ncontext: eks\nregistry: https://ecr.example.com/gz\n")
    text = _problems(path)
    assert f"{path}:3:1: error: registry: write the registry without a scheme" in text
    assert "fix: write HOST[:PORT][/PATH]" in text


def test_missing_files_and_bad_urls_are_named(tmp_path: Path) -> None:
    path = write_target(
        tmp_path / "target.yaml", "ecr.example.com/gz", credentials_file="nope.json", inference_url="ai"
    )
    text = _problems(path)
    assert f"{tmp_path / 'nope.json'} does not exist" in text
    assert "inference_url: 'ai' is not an http(s) URL" in text


def test_overlay_problems_are_located_in_the_overlay_file(tmp_path: Path) -> None:
    path = write_target(tmp_path / "target.yaml", "ecr.example.com/gz", overlay={})
    overlay = tmp_path / "target-overlay.yaml"
    overlay.write_text("greenzone-inferense:\n  replicas: 2\nharbor: [1, 2]\n")
    text = _problems(path)
    assert f"{overlay}:1:1: error: greenzone-inferense: `greenzone-inferense` is not a release" in text
    assert "did you mean `greenzone-inference`?" in text
    assert f"{overlay}:3:1: error: harbor: the values of `harbor` must be a mapping, not list" in text
    overlay.write_text("- just a list\n")
    assert "the overlay must be a mapping of release names to values" in _problems(path)
    overlay.write_text("harbor: {bad\n")
    assert f"{overlay}:" in _problems(path)


def test_an_answer_file_with_a_cloud_section_is_a_target(tmp_path: Path) -> None:
    document = answers_document(tmp_path / "bundle")
    document["cloud"] = {"kubeconfig": "kube", "context": "eks", "registry": "ecr.example.com/gz"}
    path = tmp_path / "site.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    target = load_target(path)
    assert target.answers_file == path and target.cloud.context == "eks"
    del document["cloud"]
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    assert "this answer file has no `cloud:` section" in _problems(path)


def test_cli_bad_target_exits_3_without_traceback_and_pushes_nothing(run_cli: Run, tmp_path: Path) -> None:
    with running_registry(tmp_path / "cloud") as url:
        host = url.removeprefix("http://")
        target = write_target(tmp_path / "target.yaml", f"{host}/gz", overlay={"harbour": {"a": 1}})
        result = run_cli("sync", "--target", str(target), "--answers", str(tmp_path / "answers.yaml"))
        assert result.returncode == 3
        assert "is not a valid cloud target" in result.stderr and "did you mean `harbor`?" in result.stderr
        assert "Traceback" not in result.stderr
        with urllib.request.urlopen(f"{url}/v2/_catalog") as response:
            assert response.read() == b'{"repositories":[]}\n'


def test_sync_refuses_a_bundle_whose_manifest_was_changed(run_cli: Run, tmp_path: Path) -> None:
    from tests.support.sync import make_sync_bundle

    answers = make_sync_bundle(tmp_path / "bundle")
    manifest = tmp_path / "bundle" / "bundle.yaml"
    manifest.write_text(manifest.read_text().replace("product_version:", "created: forged\nproduct_version:", 1))
    with running_registry(tmp_path / "cloud") as url:
        target = write_target(tmp_path / "target.yaml", f"{url.removeprefix('http://')}/gz")
        result = run_cli(
            "sync", "--target", str(target), "--answers", str(answers), "--render-only", str(tmp_path / "out")
        )
        assert result.returncode == 3, result.stdout + result.stderr
        assert "refusing to sync" in result.stderr and "does not match bundle.yaml" in result.stderr
        with urllib.request.urlopen(f"{url}/v2/_catalog") as response:
            assert response.read() == b'{"repositories":[]}\n'
    assert not (tmp_path / "out").exists()

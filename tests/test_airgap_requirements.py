"""airgap/requirements.txt, the hashed pins the bundle's wheels are downloaded and installed from, kept
in step with pyproject.toml and with the runtime the lock pins: it fails the moment they drift."""

from __future__ import annotations

import re
import tomllib

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.support.paths import REPO

REQUIREMENTS = REPO / "airgap" / "requirements.txt"


def _pins() -> dict[str, tuple[Version, list[str]]]:
    """name -> (pinned version, its hashes), from pip's requirements-file syntax with continuations."""
    text = REQUIREMENTS.read_text().replace("\\\n", " ")
    pins: dict[str, tuple[Version, list[str]]] = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        spec, *options = line.split(" --hash=")
        name, _, version = spec.strip().partition("==")
        assert version, f"not pinned with ==: {line[:80]}"
        pins[canonicalize_name(name)] = (Version(version.split(";")[0].strip()), options)
    return pins


def test_every_dependency_of_pyproject_is_pinned_with_a_version_it_accepts() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    pins = _pins()
    for dependency in map(Requirement, project["dependencies"]):
        name = canonicalize_name(dependency.name)
        assert name in pins, f"{dependency} is not in airgap/requirements.txt: regenerate it (see its header)"
        version = pins[name][0]
        assert dependency.specifier.contains(version, prereleases=True), (
            f"airgap/requirements.txt pins {name}=={version}, which pyproject.toml's {dependency} refuses"
        )


def test_every_pin_carries_sha256_hashes_and_pip_is_among_them() -> None:
    pins = _pins()
    assert "pip" in pins, "the bootstrap installs the wheels with the bundle's own pip"
    for name, (_, hashes) in pins.items():
        assert hashes and all(re.fullmatch(r"sha256:[0-9a-f]{64}", h.strip()) for h in hashes), name


def test_the_pins_are_for_the_runtime_the_lock_ships() -> None:
    header = REQUIREMENTS.read_text().split("\n", 3)[1]
    compiled_for = re.search(r"--python-version (\d+\.\d+)", header)
    assert compiled_for and "--generate-hashes" in header and "--only-binary :all:" in header, header
    lock = yaml.safe_load((REPO / "airgap" / "bundle.lock.yaml").read_text())
    runtimes = [item for item in lock["files"] if item["kind"] == "runtime"]
    assert runtimes, "the lock ships no Python runtime"
    for runtime in runtimes:
        assert runtime["version"].startswith(compiled_for.group(1) + "."), (runtime["version"], header)
    assert lock["wheels"]["requirements"] == "airgap/requirements.txt"
    machines = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}
    compiled_platform = re.search(r"--python-platform (\S+)", header)
    assert compiled_platform, header
    for platform in lock["platforms"]:
        assert compiled_platform.group(1).startswith(machines[platform] + "-"), (platform, header)

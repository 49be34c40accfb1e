"""Bundle signing and verification with real files, real sha256 and real ed25519 keys.

Every tamper case named by the bundle issue is refused with the file named, and verify never
changes anything in the bundle it reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from greenzone.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME
from greenzone.bundle.seal import seal
from tests.support.cli import Run

KINDS = {
    "binary": "bin/k3s",
    "script": "k3s/install.sh",
    "archive": "k3s/k3s-airgap-images-amd64.tar.zst",
    "chart": "charts/greenzone-inference-0.1.0.tgz",
    "image blob": "images/blobs/sha256/" + "ab" * 32,
    "image index": "images/index.json",
    "model blob": "models/blobs/sha256-" + "cd" * 32,
    "wheel": "wheels/greenzone-0.1.0-py3-none-any.whl",
}


def _snapshot(root: Path) -> dict[str, tuple[int, int, str]]:
    return {
        p.relative_to(root).as_posix(): (
            p.stat().st_size,
            p.stat().st_mtime_ns,
            hashlib.sha256(p.read_bytes()).hexdigest(),
        )
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture
def signed(tmp_path: Path, run_cli: Run) -> dict[str, Path]:
    bundle = tmp_path / "bundle"
    for index, relative in enumerate(KINDS.values()):
        path = bundle / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(1000 + index * 5000))
    seal(bundle)
    key = tmp_path / "vendor.key"
    assert run_cli("bundle", "keygen", "--out", str(key)).returncode == 0
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert run_cli("bundle", "sign", str(bundle), "--key", str(key)).returncode == 0
    return {"bundle": bundle, "key": key, "pub": tmp_path / "vendor.key.pub", "tmp": tmp_path}


def _verify(run_cli: Run, signed: dict[str, Path], pub: Path | None = None) -> tuple[int, dict[str, Any]]:
    before = _snapshot(signed["bundle"])
    result = run_cli("bundle", "verify", str(signed["bundle"]), "--key", str(pub or signed["pub"]), "--json")
    assert "Traceback" not in result.stderr, result.stderr
    assert _snapshot(signed["bundle"]) == before, "verify must not touch the bundle"
    envelope = json.loads(result.stdout)
    assert envelope["exit_code"] == result.returncode
    return result.returncode, envelope


def _failures(envelope: dict[str, Any]) -> dict[str, str]:
    return {c["name"]: c["detail"] for c in envelope["checks"] if c["status"] == "fail" and c["name"] != "files"}


def test_intact_bundle_verifies(run_cli: Run, signed: dict[str, Path]) -> None:
    code, envelope = _verify(run_cli, signed)
    assert code == 0, envelope
    assert envelope["data"]["files"] == len(KINDS)
    assert [c["status"] for c in envelope["checks"]] == ["pass", "pass"]


@pytest.mark.parametrize("kind", list(KINDS))
def test_one_flipped_byte_in_each_kind_of_file(run_cli: Run, signed: dict[str, Path], kind: str) -> None:
    path = signed["bundle"] / KINDS[kind]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    code, envelope = _verify(run_cli, signed)
    assert code == 2
    assert list(_failures(envelope)) == [KINDS[kind]]
    assert _failures(envelope)[KINDS[kind]].startswith("altered")


def test_truncated_file(run_cli: Run, signed: dict[str, Path]) -> None:
    path = signed["bundle"] / KINDS["archive"]
    size = path.stat().st_size
    with path.open("r+b") as handle:
        handle.truncate(size - 7)
    _, envelope = _verify(run_cli, signed)
    assert _failures(envelope) == {KINDS["archive"]: f"truncated: {size - 7} of {size} bytes"}


def test_deleted_and_added_files(run_cli: Run, signed: dict[str, Path]) -> None:
    (signed["bundle"] / KINDS["wheel"]).unlink()
    (signed["bundle"] / "charts" / "evil-1.0.0.tgz").write_bytes(b"not from the vendor")
    _, envelope = _verify(run_cli, signed)
    failures = _failures(envelope)
    assert failures[KINDS["wheel"]] == "missing"
    assert failures["charts/evil-1.0.0.tgz"].startswith("extra file")
    assert len(failures) == 2


def test_edited_manifest_breaks_the_signature(run_cli: Run, signed: dict[str, Path]) -> None:
    """An attacker alters a file and rewrites its sha256 in bundle.yaml: only the signature catches it."""
    path = signed["bundle"] / KINDS["binary"]
    path.write_bytes(b"malicious k3s")
    manifest = signed["bundle"] / MANIFEST_NAME
    text = manifest.read_text()
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.endswith(f"path: {KINDS['binary']}"))
    lines[at + 1] = f"  size: {path.stat().st_size}"
    lines[at + 2] = f"  sha256: {hashlib.sha256(b'malicious k3s').hexdigest()}"
    manifest.write_text("\n".join(lines) + "\n")
    code, envelope = _verify(run_cli, signed)
    assert code == 2 and list(_failures(envelope)) == ["signature"]
    assert "does not match" in _failures(envelope)["signature"]


def test_swapped_signature_and_wrong_key(run_cli: Run, signed: dict[str, Path]) -> None:
    other = signed["tmp"] / "other.key"
    run_cli("bundle", "keygen", "--out", str(other))
    code, envelope = _verify(run_cli, signed, pub=signed["tmp"] / "other.key.pub")
    assert code == 2 and list(_failures(envelope)) == ["signature"]
    assert run_cli("bundle", "sign", str(signed["bundle"]), "--key", str(other)).returncode == 0
    code, envelope = _verify(run_cli, signed)
    assert code == 2 and list(_failures(envelope)) == ["signature"]


def test_missing_signature(run_cli: Run, signed: dict[str, Path]) -> None:
    (signed["bundle"] / SIGNATURE_NAME).unlink()
    _, envelope = _verify(run_cli, signed)
    assert "unsigned" in _failures(envelope)["signature"]


def test_missing_manifest_and_bad_key_are_clear(run_cli: Run, signed: dict[str, Path]) -> None:
    (signed["bundle"] / MANIFEST_NAME).unlink()
    _, envelope = _verify(run_cli, signed)
    assert "bundle.yaml is missing" in _failures(envelope)["manifest"]
    result = run_cli("bundle", "verify", str(signed["bundle"]), "--key", str(signed["key"]))  # private, not public
    assert result.returncode == 3 and "not a PEM public key" in result.stderr


def test_keygen_refuses_to_overwrite(run_cli: Run, signed: dict[str, Path]) -> None:
    before = signed["key"].read_bytes()
    result = run_cli("bundle", "keygen", "--out", str(signed["key"]))
    assert result.returncode == 3 and "already exists" in result.stderr
    assert signed["key"].read_bytes() == before


def test_symlink_in_bundle_is_refused(run_cli: Run, signed: dict[str, Path]) -> None:
    target = signed["bundle"] / KINDS["script"]
    shutil.move(target, signed["tmp"] / "install.sh")
    target.symlink_to(signed["tmp"] / "install.sh")
    _, envelope = _verify(run_cli, signed)
    assert "not a regular file" in _failures(envelope)[KINDS["script"]]


def test_manifest_paths_cannot_escape(tmp_path: Path) -> None:
    from greenzone.bundle.manifest import ManifestError, parse_manifest

    text = (
        "format_version: 1\nproduct_version: '1'\nfiles:\n- {path: ../etc/passwd, size: 1, sha256: " + "0" * 64 + "}\n"
    )
    with pytest.raises(ManifestError, match="relative path"):
        parse_manifest(text)

"""The seeders the inference chart's init containers run, taken from the chart as `helm template`
renders it and run by this machine's `sh` (dash, as in the Ubuntu-based Ollama and vLLM images and
the Debian-based Open WebUI image) with GNU coreutils and util-linux's flock, as there.

No pod runs here: the bundle's hostPath, the store and the chat UI's volume are directories, and
the node's concurrent replicas are concurrent processes.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.charts import render_chart

BLOB = os.urandom(3 << 20)
MANIFEST = b'{"schemaVersion": 2, "layers": []}'


@pytest.fixture(scope="module")
def scripts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    objects = render_chart("greenzone-inference", "seedtest", "greenzone-inference", {"chatUi": {"enabled": True}})
    (config,) = [obj for obj in objects if obj["kind"] == "ConfigMap" and obj["metadata"]["name"].endswith("-seed")]
    folder = tmp_path_factory.mktemp("seed-scripts")
    out = {}
    for name, text in config["data"].items():
        out[name] = folder / name
        out[name].write_text(text)
    return out


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle_with(tmp_path: Path, files: dict[str, bytes], *, sums: dict[str, str] | None = None) -> Path:
    bundle = tmp_path / "bundle"
    for path, data in files.items():
        (bundle / path).parent.mkdir(parents=True, exist_ok=True)
        (bundle / path).write_bytes(data)
    listed = sums if sums is not None else {path: sha(data) for path, data in files.items()}
    (bundle / "SHA256SUMS").write_text("".join(f"{digest}  {path}\n" for path, digest in listed.items()))
    return bundle


FILES = {
    "ollama/blobs/sha256-aa": BLOB,
    "ollama/manifests/registry.ollama.ai/library/gemma3/4b": MANIFEST,
    "hf/google/gemma-3-4b-it/config.json": b"{}",
    "hf/google/gemma-3-4b-it/model.safetensors": os.urandom(1 << 20),
}


def seed(scripts: dict[str, Path], bundle: Path, store: Path, prefix: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(scripts["seed-models.sh"]), str(bundle), str(store), prefix],
        capture_output=True,
        text=True,
        timeout=120,
    )


def store_files(store: Path) -> dict[str, bytes]:
    return {
        path.relative_to(store).as_posix(): path.read_bytes()
        for path in store.rglob("*")
        if path.is_file() and ".seed" not in path.relative_to(store).parts
    }


def test_seeds_one_engines_files_and_a_second_run_copies_nothing(scripts: dict[str, Path], tmp_path: Path) -> None:
    bundle, store = bundle_with(tmp_path, FILES), tmp_path / "store"
    first = seed(scripts, bundle, store, "ollama/")
    assert first.returncode == 0, first.stderr
    assert "2 copied, 0 already" in first.stdout
    assert store_files(store) == {path: data for path, data in FILES.items() if path.startswith("ollama/")}
    times = {path: path.stat().st_mtime_ns for path in store.rglob("*") if path.is_file()}
    second = seed(scripts, bundle, store, "ollama/")
    assert second.returncode == 0 and "0 copied, 2 already in the store (unchanged)" in second.stdout
    assert {path: path.stat().st_mtime_ns for path in store.rglob("*") if path.is_file()} == times
    vllm = seed(scripts, bundle, store, "hf/google/gemma-3-4b-it/")
    assert vllm.returncode == 0 and "2 copied" in vllm.stdout
    assert store_files(store) == FILES


def test_a_truncated_or_wrong_file_in_the_store_is_replaced(scripts: dict[str, Path], tmp_path: Path) -> None:
    """What `cp -n` left forever: a blob cut short by an interrupted copy, and one with the right
    size but wrong bytes; and a file changed after it was checked (its stamp no longer matches)."""
    bundle, store = bundle_with(tmp_path, FILES), tmp_path / "store"
    truncated = store / "ollama/blobs/sha256-aa"
    truncated.parent.mkdir(parents=True)
    truncated.write_bytes(BLOB[: len(BLOB) // 3])
    wrong = store / "ollama/manifests/registry.ollama.ai/library/gemma3/4b"
    wrong.parent.mkdir(parents=True)
    wrong.write_bytes(b"X" * len(MANIFEST))
    done = seed(scripts, bundle, store, "ollama/")
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("does not match the bundle; replacing it") == 2
    assert truncated.read_bytes() == BLOB and wrong.read_bytes() == MANIFEST
    truncated.write_bytes(BLOB[:-1])  # damaged after the seed checked it
    again = seed(scripts, bundle, store, "ollama/")
    assert "1 copied, 1 already" in again.stdout
    assert truncated.read_bytes() == BLOB


def test_a_damaged_bundle_copy_is_refused_and_nothing_reaches_the_store(
    scripts: dict[str, Path], tmp_path: Path
) -> None:
    sums = {path: sha(data) for path, data in FILES.items()}
    bundle = bundle_with(tmp_path, {**FILES, "ollama/blobs/sha256-aa": BLOB[:-10] + b"0123456789"}, sums=sums)
    store = tmp_path / "store"
    done = seed(scripts, bundle, store, "ollama/")
    assert done.returncode == 1
    assert f"{bundle}/ollama/blobs/sha256-aa has sha256" in done.stderr
    assert "damaged; run greenzone install again" in done.stderr
    assert not (store / "ollama/blobs/sha256-aa").exists()
    assert not list(store.rglob("*.greenzone-seeding"))


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        ("sums", "SHA256SUMS is missing"),
        ("file", "ollama/blobs/sha256-aa is missing"),
        ("prefix", "lists no file under ollama/"),
    ],
)
def test_an_incomplete_bundle_copy_is_a_clear_error(
    scripts: dict[str, Path], tmp_path: Path, damage: str, message: str
) -> None:
    listed = {path: sha(data) for path, data in FILES.items() if damage != "prefix" or path.startswith("hf/")}
    bundle = bundle_with(tmp_path, FILES, sums=listed)
    if damage == "sums":
        (bundle / "SHA256SUMS").unlink()
    elif damage == "file":
        (bundle / "ollama/blobs/sha256-aa").unlink()
    done = seed(scripts, bundle, tmp_path / "store", "ollama/")
    assert done.returncode == 1
    assert message in done.stderr
    assert "Traceback" not in done.stderr


def test_a_seeder_killed_mid_copy_leaves_no_file_under_the_real_name(scripts: dict[str, Path], tmp_path: Path) -> None:
    big = os.urandom(64 << 20)
    bundle, store = bundle_with(tmp_path, {"ollama/blobs/sha256-big": big}), tmp_path / "store"
    process = subprocess.Popen(
        ["sh", str(scripts["seed-models.sh"]), str(bundle), str(store), "ollama/"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    partial = store / "ollama/blobs/sha256-big.greenzone-seeding"
    deadline = time.monotonic() + 30
    while not (partial.exists() and partial.stat().st_size > 0) and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    if not partial.exists() or partial.stat().st_size == len(big):
        pytest.skip("the copy finished before the kill; nothing to test on this run")
    assert not (store / "ollama/blobs/sha256-big").exists()
    done = seed(scripts, bundle, store, "ollama/")
    assert done.returncode == 0 and "1 copied" in done.stdout
    assert (store / "ollama/blobs/sha256-big").read_bytes() == big
    assert not list(store.rglob("*.greenzone-seeding"))


def test_seeders_on_one_node_take_turns(scripts: dict[str, Path], tmp_path: Path) -> None:
    """Two replicas on one node share the hostPath store: while one holds the store's lock the
    other waits, then finds everything in place and copies nothing."""
    bundle, store = bundle_with(tmp_path, FILES), tmp_path / "store"
    (store / ".seed").mkdir(parents=True)
    with (store / ".seed" / "lock").open("w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        waiting = subprocess.Popen(
            ["sh", str(scripts["seed-models.sh"]), str(bundle), str(store), "ollama/"],
            stdout=subprocess.PIPE,
            text=True,
        )
        time.sleep(1.0)
        assert waiting.poll() is None, "the second seeder did not wait for the lock"
        assert store_files(store) == {}
        # The holder copies while the other waits: done here by hand, as the first replica would.
        for path, data in FILES.items():
            if path.startswith("ollama/"):
                (store / path).parent.mkdir(parents=True, exist_ok=True)
                (store / path).write_bytes(data)
        fcntl.flock(held, fcntl.LOCK_UN)
    out, _ = waiting.communicate(timeout=60)
    assert waiting.returncode == 0
    assert "0 copied, 2 already in the store" in out
    racing = [
        subprocess.Popen(
            ["sh", str(scripts["seed-models.sh"]), str(bundle), str(tmp_path / "fresh"), "hf/google/gemma-3-4b-it/"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    outputs = [process.communicate(timeout=60)[0] for process in racing]
    assert all(process.returncode == 0 for process in racing)
    assert sorted("2 copied" in out for out in outputs) == [False, False, True]
    assert store_files(tmp_path / "fresh") == {p: d for p, d in FILES.items() if p.startswith("hf/")}


def app_data(scripts: dict[str, Path], image: Path, volume: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sh", str(scripts["seed-app-data.sh"]), str(image), str(volume)], capture_output=True, text=True, timeout=60
    )


def test_the_chat_uis_caches_reach_its_volume_without_touching_users_data(
    scripts: dict[str, Path], tmp_path: Path
) -> None:
    """The image's data directory as Open WebUI v0.6.34 bakes it: the Hugging Face cache of the
    embedding model (blobs and snapshot symlinks), whisper's and tiktoken's caches."""
    image = tmp_path / "image-data"
    model = image / "cache/embedding/models/models--sentence-transformers--all-MiniLM-L6-v2"
    (model / "blobs").mkdir(parents=True)
    (model / "blobs/abc123").write_bytes(b"weights")
    (model / "snapshots/rev1").mkdir(parents=True)
    (model / "snapshots/rev1/model.safetensors").symlink_to("../../blobs/abc123")
    (image / "cache/whisper/models").mkdir(parents=True)
    (image / "cache/whisper/models/model.bin").write_bytes(b"whisper")
    (image / "cache/tiktoken").mkdir(parents=True)
    (image / "cache/tiktoken/9b5ad71b2ce5302211f9c61530b329a4922fc6a4").write_bytes(b"tiktoken")
    (image / "cache/whisper/models/my settings.json").write_bytes(b"image default")

    volume = tmp_path / "volume"
    (volume / "cache/whisper/models").mkdir(parents=True)
    (volume / "webui.db").write_bytes(b"users and chats")
    (volume / "cache/whisper/models/my settings.json").write_bytes(b"the site's own")
    (volume / "cache/tiktoken").mkdir(parents=True)
    (volume / "cache/tiktoken/9b5ad71b2ce5302211f9c61530b329a4922fc6a4.greenzone-seeding").write_bytes(b"tik")

    done = app_data(scripts, image, volume)
    assert done.returncode == 0, done.stderr
    assert "4 files copied" in done.stdout
    linked = volume / "cache/embedding/models/models--sentence-transformers--all-MiniLM-L6-v2/snapshots/rev1"
    assert (linked / "model.safetensors").is_symlink() and (linked / "model.safetensors").read_bytes() == b"weights"
    assert (volume / "cache/tiktoken/9b5ad71b2ce5302211f9c61530b329a4922fc6a4").read_bytes() == b"tiktoken"
    assert (volume / "webui.db").read_bytes() == b"users and chats"
    assert (volume / "cache/whisper/models/my settings.json").read_bytes() == b"the site's own"
    assert not list(volume.rglob("*.greenzone-seeding"))
    again = app_data(scripts, image, volume)
    assert again.returncode == 0 and "0 files copied" in again.stdout

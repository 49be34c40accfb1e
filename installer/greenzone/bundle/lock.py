"""The bundle lockfile (`airgap/bundle.lock.yaml`): every artifact pinned with its source and digest.

Pure: text in, a validated `Lock` and located problems out. `bundle build` refuses to run while any
problem or unresolved pin remains, so a bundle is only ever built from bytes somebody pinned.
A pin that still reads `unresolved` is filled by `bundle lock --update` on a connected machine,
which rewrites just that value in place so the file's comments survive.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from greenzone.answers.problems import Problem
from greenzone.answers.schema_errors import problems_from_validation_error
from greenzone.bundle.model_files import missing_files
from greenzone.yamlpos import KeyPath, Position, Positions, load

UNRESOLVED = "unresolved"
SHA256 = r"^([0-9a-f]{64}|unresolved)$"
DIGEST = r"^(sha256:[0-9a-f]{64}|unresolved)$"
PLATFORM = r"^[a-z0-9]+/[a-z0-9_]+(/v[0-9]+)?$"
_TAGGED_REF = re.compile(r"^[a-z0-9.\-]+(:[0-9]+)?/[a-z0-9._/\-]+:[A-Za-z0-9_][A-Za-z0-9_.\-]{0,127}$")


def _bundle_path(value: str) -> str:
    path = PurePosixPath(value)
    if value.startswith("/") or ".." in path.parts or "\\" in value or not value:
        raise ValueError(f"{value!r} is not a relative path inside the bundle")
    return value


def _tagged_ref(value: str) -> str:
    if "@" in value:
        raise ValueError(f"{value!r} carries a digest; put the digest in `digest:` and keep `ref:` as HOST/NAME:TAG")
    if not _TAGGED_REF.match(value):
        raise ValueError(f"{value!r} is not a full image reference HOST/NAME:TAG (e.g. docker.io/ollama/ollama:0.6.5)")
    if value.endswith(":latest"):
        raise ValueError(f"{value!r} uses `latest`, which moves; pin a released tag")
    return value


BundlePath = Annotated[str, AfterValidator(_bundle_path)]
TaggedRef = Annotated[str, AfterValidator(_tagged_ref)]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class LockedFile(_Section):
    name: str
    """What it is, as `bundle inspect` and the playbooks name it: `k3s`, `k3s-install`, `helm`..."""

    version: str
    kind: Literal["binary", "script", "archive", "runtime"]
    """`runtime`: the relocatable CPython the site runs greenzone with (a python-build-standalone
    `install_only` archive, whose top directory is `python/`); the bootstrap unpacks it."""

    url: str = Field(pattern=r"^https?://")
    """Where the vendor's build machine downloads it (resumed with HTTP Range)."""

    sha256: str = Field(pattern=SHA256)
    """sha256 of the file, or `unresolved` until `greenzone bundle lock --update` fills it."""

    dest: BundlePath
    """Where it lands inside the bundle, e.g. `bin/k3s`."""

    platform: str | None = Field(default=None, pattern=PLATFORM)
    """Platform the file is for (`linux/amd64`); omitted for platform-independent files."""

    mode: Literal["0644", "0755"] = "0644"
    """Permissions inside the bundle: 0755 for executables."""


class LockedChart(_Section):
    name: str
    version: str
    url: str | None = Field(default=None, pattern=r"^https?://")
    """Chart archive of a third-party chart (the `urls:` entry of its repository's index.yaml)."""

    sha256: str | None = Field(default=None, pattern=SHA256)
    """sha256 of the archive (the `digest:` of its index.yaml entry)."""

    path: str | None = None
    """Our own charts: the chart directory in this repository, packaged with `helm package` at build time."""

    @model_validator(mode="after")
    def _one_source(self) -> LockedChart:
        if (self.url is None) == (self.path is None):
            raise ValueError("give either `url` + `sha256` (a third-party chart) or `path` (one of our charts)")
        if self.url is not None and self.sha256 is None:
            raise ValueError("a chart downloaded from `url` needs its `sha256`")
        return self

    @property
    def dest(self) -> str:
        return f"charts/{self.name}-{self.version}.tgz"


class LockedImage(_Section):
    ref: TaggedRef
    """Upstream reference HOST/NAME:TAG, e.g. `docker.io/ollama/ollama:0.6.5`."""

    digest: str = Field(pattern=DIGEST)
    """Digest of the tag's manifest or multi-platform index, as `sha256:...`, or `unresolved`."""

    platforms: list[str] | None = Field(default=None, min_length=1)
    """Platforms to keep from a multi-platform index; default: the lock's `platforms`."""

    bootstrap: bool = False
    """Needed before Harbor runs (k3s, GPU operator, Harbor itself): also imported through k3s's images dir."""


class LockedModelFile(_Section):
    url: str = Field(pattern=r"^https?://")
    sha256: str = Field(pattern=SHA256)
    path: BundlePath
    """Path inside the model's directory, e.g. `model-00001-of-00002.safetensors`."""


class LockedModel(_Section):
    name: str
    """The name answer files use: `gemma3:4b` (Ollama) or `google/gemma-3-4b-it` (vLLM)."""

    engine: Literal["ollama", "vllm"]
    source: str | None = None
    """Ollama: the model's reference in an Ollama registry, e.g. `registry.ollama.ai/library/gemma3:4b`."""

    digest: str | None = Field(default=None, pattern=DIGEST)
    """Ollama: digest of the model's manifest."""

    files: list[LockedModelFile] = Field(default_factory=list)
    """vLLM: the Hugging Face files, each pinned by sha256."""

    architecture: str | None = Field(default=None, pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    """vLLM: `architectures[0]` of the model's config.json (e.g. `Gemma3ForConditionalGeneration`);
    says which files the engine needs. `bundle build` checks it against the config.json it fetches."""

    vram_bytes: int = Field(ge=0)
    """GPU memory one replica needs (weights + default KV cache); preflight checks it against the GPUs."""

    @model_validator(mode="after")
    def _engine_source(self) -> LockedModel:
        if self.engine == "ollama" and (self.source is None or self.digest is None or self.files):
            raise ValueError("an Ollama model needs `source` and `digest` (and no `files`)")
        if self.engine == "vllm" and (not self.files or self.source is not None):
            raise ValueError("a vLLM model needs `files` (Hugging Face URLs with sha256) and no `source`")
        if self.engine == "ollama" and self.architecture is not None:
            raise ValueError("`architecture` is for vLLM models; an Ollama model's manifest says what it is")
        if self.engine == "vllm":
            if self.architecture is None:
                raise ValueError(
                    "a vLLM model needs `architecture`, which says which files the engine reads"
                    "\nhint: copy the first entry of `architectures` in the model's config.json, "
                    "e.g. `architecture: Gemma3ForConditionalGeneration`"
                )
            missing = missing_files([item.path for item in self.files], self.architecture)
            if missing:
                raise ValueError(
                    f"vLLM cannot start {self.name} ({self.architecture}) without: "
                    + "; ".join(missing)
                    + "\nhint: add each to `files` with its URL in the model's repository and `sha256: unresolved`, "
                    "then run `greenzone bundle lock --update`"
                )
        return self


class LockedWheels(_Section):
    project: str = "."
    """Directory of the installer's own project, built into a wheel (relative to the lock file's repository)."""

    requirements: str | None = None
    """A pip requirements file with `--hash` pins for every dependency (and pip itself), downloaded as
    binary wheels for the runtime's Python version and the lock's platforms, and copied into the
    bundle as `wheels/requirements.txt` for the bootstrap's `pip install --require-hashes`."""


class Lock(_Section):
    lock_version: Literal[1]
    platforms: list[str] = Field(default_factory=lambda: ["linux/amd64"], min_length=1)
    """Platforms images are kept for unless an image says otherwise."""

    files: list[LockedFile] = Field(default_factory=list)
    charts: list[LockedChart] = Field(default_factory=list)
    images: list[LockedImage] = Field(default_factory=list)
    models: list[LockedModel] = Field(default_factory=list)
    wheels: LockedWheels | None = None

    @model_validator(mode="after")
    def _unique(self) -> Lock:
        for label, keys in (
            ("file destination", [item.dest for item in self.files]),
            ("chart", [item.dest for item in self.charts]),
            ("image", [item.ref for item in self.images]),
            ("model", [item.name for item in self.models]),
        ):
            seen = {key for key in keys if keys.count(key) > 1}
            if seen:
                raise ValueError(f"{label} listed twice: {', '.join(sorted(seen))}")
        return self


SCHEMA_ID = "https://greenzone.invalid/schemas/bundle-lock.schema.json"


def lock_json_schema() -> dict[str, object]:
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **Lock.model_json_schema()}


@dataclass
class LockValidation:
    file: str
    lock: Lock | None
    problems: list[Problem] = field(default_factory=list)
    positions: Positions = field(default_factory=Positions)

    @property
    def ok(self) -> bool:
        return self.lock is not None and not self.problems


def parse_lock(text: str, file: str) -> LockValidation:
    loaded = load(text)
    problems = [
        Problem("error", issue.path, issue.message, issue.hint, file, issue.position or Position(1, 1))
        for issue in loaded.issues
    ]
    if not isinstance(loaded.data, dict):
        if not problems:
            problems.append(
                Problem(
                    "error",
                    (),
                    "the lock file is not a mapping",
                    "start from airgap/bundle.lock.yaml in the greenzone repository",
                    file,
                    Position(1, 1),
                )
            )
        return LockValidation(file, None, problems, loaded.positions)
    try:
        lock = Lock.model_validate(loaded.data)
    except ValidationError as exc:
        problems.extend(problems_from_validation_error(exc, Lock, loaded.data, loaded.positions, file))
        return LockValidation(file, None, problems, loaded.positions)
    return LockValidation(file, lock, problems, loaded.positions)


@dataclass(frozen=True)
class Pin:
    """One pin still to resolve: the key holding `unresolved`, and what `lock --update` must fetch."""

    path: KeyPath
    kind: Literal["file", "image", "model"]
    source: str  # URL of a file, or HOST/NAME:TAG of an image or Ollama model


def unresolved(lock: Lock) -> list[Pin]:
    pins: list[Pin] = []
    for i, item in enumerate(lock.files):
        if item.sha256 == UNRESOLVED:
            pins.append(Pin(("files", i, "sha256"), "file", item.url))
    for i, chart in enumerate(lock.charts):
        if chart.sha256 == UNRESOLVED and chart.url:
            pins.append(Pin(("charts", i, "sha256"), "file", chart.url))
    for i, image in enumerate(lock.images):
        if image.digest == UNRESOLVED:
            pins.append(Pin(("images", i, "digest"), "image", image.ref))
    for i, model in enumerate(lock.models):
        if model.digest == UNRESOLVED and model.source:
            pins.append(Pin(("models", i, "digest"), "model", model.source))
        for j, model_file in enumerate(model.files):
            if model_file.sha256 == UNRESOLVED:
                pins.append(Pin(("models", i, "files", j, "sha256"), "file", model_file.url))
    return pins


def unresolved_problems(validation: LockValidation) -> list[Problem]:
    assert validation.lock is not None
    return [
        Problem(
            "error",
            pin.path,
            f"{pin.source} is not pinned yet (`unresolved`)",
            "on a connected machine run `greenzone bundle lock --update FILE`, review the diff, and commit it",
            validation.file,
            validation.positions.of_value(pin.path),
        )
        for pin in unresolved(validation.lock)
    ]


def fill_pins(text: str, positions: Positions, values: dict[KeyPath, str]) -> str:
    """Replace each `unresolved` value at `path` by its resolved value, touching nothing else of the text."""
    lines = text.splitlines(keepends=True)
    for path, value in values.items():
        where = positions.values.get(path)
        if where is None:
            raise KeyError(path)
        line = lines[where.line - 1]
        start = where.column - 1
        quoted = line[start : start + 1] in ("'", '"')
        token = line[start : start + len(UNRESOLVED) + (2 if quoted else 0)]
        if token.strip("'\"") != UNRESOLVED:
            raise ValueError(f"line {where.line} does not hold `{UNRESOLVED}` at column {where.column}")
        lines[where.line - 1] = line[:start] + value + line[start + len(token) :]
    return "".join(lines)

"""The bundle manifest (`bundle.yaml`): what a bundle holds, for validation and preflight.

Only the parts other commands read today are modelled strictly (format version, product version,
models with their memory needs); the file list is kept for `bundle verify`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, model_validator

from greenzone import yamlpos
from greenzone.errors import GreenzoneError, InputError
from greenzone.textfiles import read_text

MANIFEST_NAME = "bundle.yaml"
SIGNATURE_NAME = "bundle.yaml.sig"


class ManifestError(Exception):
    """The manifest is missing or unreadable; callers turn this into their own located error."""


class _Section(BaseModel):
    # Newer bundle formats may add keys; an older installer must still read what it knows.
    model_config = ConfigDict(extra="ignore", frozen=True, use_attribute_docstrings=True)


class BundleModel(_Section):
    name: str
    """Name the answer file uses (`gemma3:4b`, `google/gemma-3-4b-it`)."""

    engine: Literal["ollama", "vllm"]
    """Engine whose store format the weights are in."""

    size_bytes: int = Field(ge=0)
    """Bytes of weights on disk."""

    vram_bytes: int = Field(ge=0)
    """GPU memory one replica needs to load the model with its default context (weights + KV cache)."""


def _relative(value: str) -> str:
    parts = value.split("/")
    if value.startswith("/") or any(part in ("", ".", "..") for part in parts) or "\\" in value:
        raise ValueError(f"{value!r} is not a plain relative path inside the bundle")
    return value


class BundleFile(_Section):
    path: Annotated[str, AfterValidator(_relative)]
    """Path relative to the bundle directory, with `/` separators."""

    size: int = Field(ge=0)
    sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    from_base: bool = False
    """Left out of a delta bundle: its base bundle carries the same bytes (`bundle complete` copies them)."""


class Component(_Section):
    name: str
    """What it is: `k3s`, `helm`, `gpu-operator`, `harbor`, `greenzone-inference`..."""

    version: str
    kind: Literal["binary", "script", "archive", "runtime", "chart", "image", "model", "wheel"]
    paths: list[str] = Field(default_factory=list)
    """Files of the bundle that belong to it."""


class BundleImage(_Section):
    ref: str
    """Upstream reference without digest, e.g. `docker.io/ollama/ollama:0.6.5`."""

    digest: str = Field(pattern=r"^sha256:[0-9a-f]{64}$")
    """Digest of the manifest or index stored in images/ (what pods and registries will see)."""

    source_digest: str | None = Field(default=None, pattern=r"^sha256:[0-9a-f]{64}$")
    """Upstream digest the lock pinned, when platforms were filtered out of a multi-platform index."""

    platforms: list[str] = Field(default_factory=list)

    bootstrap: bool = False
    """Needed before Harbor runs; the install also imports it through k3s's agent images directory."""


class BaseBundle(_Section):
    """The bundle a delta was built against: the files it leaves out are that bundle's."""

    product_version: str
    manifest_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    """The base manifest's `canonical_digest`: only that version completes the delta, whether the
    site got it whole or as a completed delta."""


class Manifest(_Section):
    format_version: Literal[1]
    product_version: str
    created: str = ""
    base: BaseBundle | None = None
    """Set on a delta bundle (`bundle build --base`); the manifest still lists every file, signed."""
    components: list[Component] = Field(default_factory=list)
    images: list[BundleImage] = Field(default_factory=list)
    models: list[BundleModel] = Field(default_factory=list)
    files: list[BundleFile] = Field(default_factory=list)

    @model_validator(mode="after")
    def _each_listed_once(self) -> Manifest:
        """A path listed twice could carry two digests, one checked and one installed; and a signed
        manifest with a duplicate was never written by `bundle build`, so something edited it."""
        for section, names in (
            ("files", [item.path for item in self.files]),
            ("images", [item.ref for item in self.images]),
            ("models", [item.name for item in self.models]),
        ):
            seen: set[str] = set()
            for index, name in enumerate(names):
                if name in seen:
                    raise ValueError(f"{section}[{index}] lists {name!r} a second time; each may appear once")
                seen.add(name)
        return self

    @model_validator(mode="after")
    def _left_out_needs_a_base(self) -> Manifest:
        """A file may be left out only by a delta, which names its base: anything else would let a
        bundle pass for whole with files missing."""
        if self.base is None and any(item.from_base for item in self.files):
            raise ValueError("files marked from_base in a manifest that names no base bundle")
        return self

    def canonical_digest(self) -> str:
        """sha256 of this manifest as its whole bundle's: the delta keys taken out, written as `seal`
        writes it. A delta completed at a site and the same version built whole share it, so either
        can be the base of the next delta."""
        import hashlib

        whole = self.model_copy(
            update={"base": None, "files": [item.model_copy(update={"from_base": False}) for item in self.files]}
        )
        return hashlib.sha256(whole.to_yaml().encode("utf-8")).hexdigest()

    def to_yaml(self) -> str:
        data = self.model_dump(mode="json")
        # A full bundle's manifest reads as it always did: the delta keys only where they say something.
        if data.get("base") is None:
            data.pop("base", None)
        for item in data["files"]:
            if not item.get("from_base"):
                item.pop("from_base", None)
        return yaml.safe_dump(data, sort_keys=False, width=120)

    def from_base(self) -> list[BundleFile]:
        return [item for item in self.files if item.from_base]

    def model_named(self, name: str) -> BundleModel | None:
        return next((model for model in self.models if model.name == name), None)


def parse_manifest(text: str, source: str = MANIFEST_NAME) -> Manifest:
    try:
        return Manifest.model_validate(yamlpos.data(text, source))
    except yamlpos.YamlRefused as exc:
        raise ManifestError(f"{exc}") from None
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(item) for item in first["loc"])
        raise ManifestError(f"{source}: {where}: {first['msg']}") from None


def read_manifest(bundle_dir: Path) -> Manifest:
    path = bundle_dir / MANIFEST_NAME
    try:
        text = read_text(path, "a bundle manifest")
    except GreenzoneError as error:
        raise ManifestError(error.title) from None
    return parse_manifest(text, str(path))


def read_bundle_manifest(bundle: Path) -> tuple[str, Manifest]:
    """The manifest's text (what the install state's digest covers) and its model, from one read."""
    path = bundle / MANIFEST_NAME
    try:
        text = read_text(path, "a bundle manifest")
        return text, parse_manifest(text, str(path))
    except (GreenzoneError, ManifestError) as error:
        raise InputError(
            f"cannot read the bundle manifest: {getattr(error, 'title', None) or error}",
            hint="point bundle.path in the answers (or --bundle) at the bundle directory, the one holding bundle.yaml",
        ) from None

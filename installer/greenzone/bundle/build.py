"""`bundle build`: from a lock file to a sealed bundle directory (vendor side, connected machine).

Every artifact is checked against its pin before it gets its final name; `bundle.yaml` is written
last. The output directory is owned by the build: a re-run keeps what is complete and correct,
resumes what is partial, and removes what the lock no longer names, so the result is exactly the
lock's content however many runs it took.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

from greenzone import __version__
from greenzone.atomic import scratch_directory, write_bytes_atomic
from greenzone.bundle.download import Fetched, fetch
from greenzone.bundle.lock import Lock, LockedChart, LockedModel
from greenzone.bundle.manifest import MANIFEST_NAME, SIGNATURE_NAME, BundleImage, BundleModel, Component, Manifest
from greenzone.bundle.model_files import SUMS_NAME, config_architecture, sums_text
from greenzone.bundle.oci import Layout
from greenzone.bundle.pull import ImageSource, OllamaStore, pull_images, pull_ollama_model
from greenzone.bundle.registry import Registries, load_auths
from greenzone.bundle.seal import BUILD_MARKER as MARKER
from greenzone.bundle.seal import Verified, seal
from greenzone.cluster.helm import find_helm
from greenzone.errors import EnvironmentProblem, InputError
from greenzone.progress import Meter
from greenzone.refs import split_ref

log = logging.getLogger(__name__)

ProgressFor = Callable[[str], AbstractContextManager[Meter]]


@contextmanager
def _no_progress(_: str) -> Iterator[Meter]:
    yield Meter(advance=lambda n: None, start=lambda n: None)


@dataclass
class BuildOptions:
    lock_file: Path
    out: Path
    helm: Path | None = None
    auth_file: Path | None = None
    """Docker-style `config.json` with credentials per registry host (`auths.<host>.auth`)."""
    pip_args: list[str] = field(default_factory=list)
    jobs: int | None = None
    progress_for: ProgressFor = _no_progress

    @property
    def pull_jobs(self) -> int:
        """Blobs downloaded at once: `--jobs`, else 6, the layer downloads skopeo and podman run at
        once (containers/image's copy `maxParallelDownloads`)."""
        return self.jobs or 6


@dataclass
class BuildResult:
    manifest: Manifest
    downloaded: int = 0
    reused: int = 0
    removed: list[str] = field(default_factory=list)


class Builder:
    def __init__(self, lock: Lock, options: BuildOptions) -> None:
        self.lock = lock
        self.options = options
        self.out = options.out
        self.root = options.lock_file.resolve().parent.parent  # the lock lives in <repo>/airgap/
        self.registries = Registries(load_auths(options.auth_file))
        self.kept: set[str] = set()
        self.components: list[Component] = []
        self.images: list[BundleImage] = []
        self.verified: dict[str, Verified] = {}
        self.models: list[BundleModel] = []
        self.result_downloaded = 0
        self.result_reused = 0
        self.removed: list[str] = []

    def keep(self, path: Path) -> str:
        relative = path.relative_to(self.out).as_posix()
        self.kept.add(relative)
        return relative

    # --- steps -----------------------------------------------------------------------------------

    def files(self) -> None:
        if not self.lock.files:
            return
        with self.options.progress_for("files") as meter:
            for item in self.lock.files:
                got = fetch(item.url, self.out / item.dest, item.sha256, progress=meter.advance)
                (self.out / item.dest).chmod(int(item.mode, 8))
                self._count(got)
                self.components.append(
                    Component(name=item.name, version=item.version, kind=item.kind, paths=[self.keep(got.path)])
                )

    def charts(self) -> None:
        if not self.lock.charts:
            return
        with self.options.progress_for("charts") as meter:
            for chart in self.lock.charts:
                dest = self.out / chart.dest
                if chart.url and chart.sha256:
                    self._count(fetch(chart.url, dest, chart.sha256, progress=meter.advance))
                else:
                    self._package(chart, dest)
                self.components.append(
                    Component(name=chart.name, version=chart.version, kind="chart", paths=[self.keep(dest)])
                )

    def _package(self, chart: LockedChart, dest: Path) -> None:
        source = (self.root / str(chart.path)).resolve()
        try:
            meta = yaml.safe_load((source / "Chart.yaml").read_text())
        except (OSError, yaml.YAMLError) as error:
            raise InputError(
                f"cannot read {source / 'Chart.yaml'}: {error}", hint="check the chart's `path:` in the lock"
            ) from None
        if str(meta.get("version")) != chart.version:
            raise InputError(
                f"{source / 'Chart.yaml'} says version {meta.get('version')}, the lock says {chart.version}",
                hint="bump one of them so that they agree",
            )
        helm = find_helm(self.options.helm)
        with scratch_directory("greenzone-chart-") as work:
            run = subprocess.run(
                [str(helm), "package", str(source), "--destination", str(work)], capture_output=True, text=True
            )
            if run.returncode != 0:
                raise InputError(f"helm package {source} failed: {run.stderr.strip()}", hint="run `helm lint` on it")
            built = work / f"{chart.name}-{chart.version}.tgz"
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.move(built, dest)

    def pull_images(self) -> None:
        if not self.lock.images:
            return
        layout = Layout(self.out / "images")
        layout.init()
        sources = []
        for image in self.lock.images:
            host, repository, _ = split_ref(image.ref)
            platforms = list(image.platforms or self.lock.platforms)
            sources.append(ImageSource(self.registries.get(host), repository, image.ref, image.digest, platforms))
        with self.options.progress_for("images") as meter:
            pulled_images = pull_images(
                sources, layout, jobs=self.options.pull_jobs, progress=meter.advance, on_blob=self._count
            )
        for image, pulled in zip(self.lock.images, pulled_images, strict=True):
            self.images.append(
                BundleImage(
                    ref=image.ref,
                    digest=pulled.digest,
                    source_digest=pulled.source_digest if pulled.source_digest != pulled.digest else None,
                    platforms=list(pulled.platforms),
                    bootstrap=image.bootstrap,
                )
            )
        # index.json names exactly the lock's images, and only their blobs stay.
        wanted = {image.ref for image in self.lock.images}
        self.removed += [f"images/blobs/{digest}" for digest in layout.retain(wanted)]
        for path in (layout.root / "blobs" / "sha256").iterdir():
            if not path.name.endswith(".part"):
                self.keep(path)
        self.keep(layout.root / "index.json")
        self.keep(layout.root / "oci-layout")
        self.components.append(Component(name="images", version=str(len(self.images)), kind="image", paths=["images"]))

    def pull_models(self) -> None:
        if not self.lock.models:
            return
        sums: dict[str, str] = {}  # path under models/ -> sha256, for the seeders on the nodes
        with self.options.progress_for("models") as meter:
            for model in self.lock.models:
                if model.engine == "ollama":
                    assert model.source and model.digest
                    host, repository, tag = split_ref(model.source)
                    store = OllamaStore(self.out / "models" / "ollama")
                    path, blobs = pull_ollama_model(
                        self.registries.get(host),
                        host,
                        repository,
                        tag,
                        model.digest,
                        store,
                        progress=meter.advance,
                        on_blob=self._count,
                    )
                    size = sum(blob.size for blob in blobs)
                    paths = [self.keep(path), *(self.keep(store.blob_path(blob.digest)) for blob in blobs)]
                    for blob in blobs:
                        sums[self._under_models(store.blob_path(blob.digest))] = blob.digest.removeprefix("sha256:")
                    sums[self._under_models(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
                else:
                    size, paths = 0, []
                    for item in model.files:
                        dest = self.out / "models" / "hf" / model.name / item.path
                        got = fetch(item.url, dest, item.sha256, progress=meter.advance)
                        self._count(got)
                        size += got.size
                        paths.append(self.keep(dest))
                        sums[self._under_models(dest)] = item.sha256
                    self._check_architecture(model)
                self.models.append(
                    BundleModel(name=model.name, engine=model.engine, size_bytes=size, vram_bytes=model.vram_bytes)
                )
                self.components.append(
                    Component(name=model.name, version=model.digest or "files", kind="model", paths=paths)
                )

        target = self.out / "models" / SUMS_NAME
        write_bytes_atomic(target, sums_text(sums).encode())
        self.components.append(Component(name="model-sums", version="1", kind="model", paths=[self.keep(target)]))

    def _under_models(self, path: Path) -> str:
        return path.relative_to(self.out / "models").as_posix()

    def _check_architecture(self, model: LockedModel) -> None:
        """The lock's `architecture` decided which files it had to pin; the config.json fetched must
        agree, or the lock's file rule checked the wrong needs."""
        config = self.out / "models" / "hf" / model.name / "config.json"
        found = config_architecture(config.read_bytes())
        if found != model.architecture:
            raise InputError(
                f"{model.name}: its config.json names the architecture {found or '(none)'}, "
                f"the lock says {model.architecture}",
                hint=f"set `architecture: {found}` for {model.name} in the lock, run `greenzone bundle lock` "
                "for the files that architecture needs, and build again",
            )

    def wheels(self) -> None:
        spec = self.lock.wheels
        if spec is None:
            return
        target = self.out / "wheels"
        target.mkdir(parents=True, exist_ok=True)
        # Wheels of an earlier build (an older greenzone, an older pin) must not ride along: the
        # directory holds exactly what this build fetched. pip's own cache keeps a re-run cheap.
        for stale in target.glob("*.whl"):
            stale.unlink()
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check"]
        commands = [
            [
                *pip,
                "wheel",
                "--no-deps",
                "--wheel-dir",
                str(target),
                *self.options.pip_args,
                str(self.root / spec.project),
            ]
        ]
        if spec.requirements:
            requirements = self.root / spec.requirements
            # One download per platform: a single pip run picks one wheel per project, not one per platform.
            for platform_arguments in wheel_targets(self.lock):
                commands.append(
                    [
                        *pip,
                        "download",
                        "--require-hashes",
                        "--only-binary=:all:",
                        *platform_arguments,
                        "--dest",
                        str(target),
                        "-r",
                        str(requirements),
                        *self.options.pip_args,
                    ]
                )
            shutil.copyfile(requirements, target / "requirements.txt")
        with self.options.progress_for("wheels"):
            for command in commands:
                run = subprocess.run(command, capture_output=True, text=True)
                if run.returncode != 0:
                    tail = "\n".join(line for line in run.stderr.splitlines() if "error" in line.lower())[-1500:]
                    raise EnvironmentProblem(
                        f"pip could not fetch the wheels: {tail}", hint="check the requirements and the network"
                    )
        paths = [self.keep(path) for path in sorted(target.glob("*.whl"))]
        if spec.requirements:
            paths.append(self.keep(target / "requirements.txt"))
        self.components.append(Component(name="wheels", version=str(len(paths)), kind="wheel", paths=paths))

    def bootstrap(self) -> None:
        """The site's first command, `sh <bundle>/install.sh`: only with a runtime to run greenzone on."""
        if not any(item.kind == "runtime" for item in self.lock.files):
            return
        dest = self.out / BOOTSTRAP_NAME
        source = resources.files("greenzone") / "bootstrap" / "install.sh"
        write_bytes_atomic(dest, source.read_bytes(), mode=0o755)
        self.components.append(Component(name="bootstrap", version=__version__, kind="script", paths=[self.keep(dest)]))

    def _count(self, fetched: Fetched) -> None:
        if fetched.reused:
            self.result_reused += 1
        else:
            self.result_downloaded += 1
        if fetched.sha256:  # every byte was hashed just now: sealing need not read them again
            stat = fetched.path.stat()
            self.verified[fetched.path.relative_to(self.out).as_posix()] = Verified(
                stat.st_size, stat.st_mtime_ns, fetched.sha256
            )

    # --- the whole build --------------------------------------------------------------------------

    def prune(self) -> list[str]:
        """Remove what the lock no longer names (older builds, `.part` leftovers) before sealing."""
        removed = []
        for path in sorted(self.out.rglob("*"), reverse=True):
            relative = path.relative_to(self.out).as_posix()
            if path.is_dir():
                if not any(path.iterdir()):
                    path.rmdir()
                continue
            if relative in self.kept or relative in (MANIFEST_NAME, SIGNATURE_NAME, MARKER):
                continue
            path.unlink()
            removed.append(relative)
        if removed:
            log.info("removed %d files the lock no longer names: %s", len(removed), removed[:20])
        return removed

    def run(self) -> BuildResult:
        _claim(self.out)
        (self.out / MANIFEST_NAME).unlink(missing_ok=True)  # the bundle is unfinished until sealed again
        (self.out / SIGNATURE_NAME).unlink(missing_ok=True)
        self.files()
        self.charts()
        self.pull_images()
        self.pull_models()
        self.wheels()
        self.bootstrap()
        removed = self.removed + self.prune()
        with self.options.progress_for("sealing") as meter:
            manifest = seal(
                self.out,
                components=self.components,
                images=self.images,
                models=self.models,
                jobs=self.options.jobs,
                progress=meter.advance,
                verified=self.verified,
                check_names=True,
            )
        (self.out / MARKER).unlink()  # only now: a kill while sealing still leaves a resumable build
        return BuildResult(manifest, self.result_downloaded, self.result_reused, removed)


def _claim(out: Path) -> None:
    """Refuse to take over a directory that holds anything but an earlier build of a bundle."""
    if out.exists() and any(out.iterdir()) and not ((out / MARKER).exists() or (out / MANIFEST_NAME).exists()):
        raise InputError(
            f"{out} is not empty and holds no bundle",
            hint="give an empty or new directory to --out; a build removes files the lock does not name",
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).touch()


BOOTSTRAP_NAME = "install.sh"
_PLATFORM_MACHINES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}


def wheel_targets(lock: Lock) -> list[list[str]]:
    """pip's `--python-version`/`--platform` for the runtime the site will run, one set per platform
    of the lock, so the wheels fit it whatever Python and machine the vendor builds on; one empty set
    (this interpreter's) when the lock carries no runtime."""
    runtime = next((item for item in lock.files if item.kind == "runtime"), None)
    if runtime is None:
        return [[]]
    major_minor = ".".join(runtime.version.split(".")[:2])
    targets = []
    for platform in lock.platforms:
        machine = _PLATFORM_MACHINES.get(platform)
        if machine is None:
            raise InputError(f"no wheels can be chosen for platform {platform}", hint="use linux/amd64 or linux/arm64")
        arguments = ["--python-version", major_minor, "--implementation", "cp"]
        for tag in ("manylinux_2_28", "manylinux_2_17", "manylinux2014", "manylinux_2_5", "manylinux1", "linux"):
            arguments += ["--platform", f"{tag}_{machine}"]
        targets.append(arguments)
    return targets


def build_bundle(lock: Lock, options: BuildOptions) -> BuildResult:
    return Builder(lock, options).run()

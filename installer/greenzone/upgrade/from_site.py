"""Making a delta bundle whole from the appliance itself: Harbor's blobs by digest, the nodes' k3s
files and models, and the state directory's copies (`bundle.site_sources` says which file is where).

`look` only asks (HEAD and manifest requests to Harbor, a size check on the nodes in Ansible's check
mode, the state directory's copies by size) and changes nothing: the upgrade's preflight, `--check`
included, refuses with the list of what is nowhere on site. `bring` fetches each file into the bundle
directory; every file is hashed against the delta's signed manifest and takes its name only when it
matches, so a stop leaves only whole, checked files and a re-run brings the rest.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenzone.answers.model import Answers
from greenzone.bundle.delta import COMPLETION_STAGING, copy_checked, missing_from_base, remove_leftovers
from greenzone.bundle.manifest import Manifest
from greenzone.bundle.oci import INDEX_TYPES, Descriptor, Layout
from greenzone.bundle.site_sources import SiteFile, locate_all
from greenzone.errors import EnvironmentProblem, GreenzoneError, InputError
from greenzone.statedir import StateDir

SHOWN = 8


@dataclass
class SiteLook:
    """What the site holds of a delta's missing files: `found` (with where), `lacking` (why not)."""

    found: list[SiteFile] = field(default_factory=list)
    lacking: list[str] = field(default_factory=list)

    @property
    def bytes(self) -> int:
        return sum(site.file.size for site in self.found)

    def summary(self) -> str:
        """`N files (X MiB): 3 from Harbor (…), …`: what the plan, the run and `bundle complete` say."""
        from greenzone.bundle.site_sources import describe

        text = f"{len(self.found)} files ({self.bytes / 2**20:.1f} MiB)"
        return f"{text}: {describe(self.found)}" if self.found else text

    def lacking_text(self) -> str:
        more = len(self.lacking) - SHOWN
        return "; ".join(self.lacking[:SHOWN]) + (f"; and {more} more" if more > 0 else "")


@dataclass
class _Held:
    """A blob Harbor holds: the repository that has it, its descriptor, and a manifest's body."""

    repository: str
    descriptor: Descriptor
    body: bytes | None = None


class _Harbor:
    """Harbor as the installer reaches it (health's address, the site's CA, the admin account)."""

    def __init__(self, state: StateDir, answers: Answers, endpoints: Mapping[str, str]) -> None:
        from greenzone.bundle.registry import Registry
        from greenzone.health.readers.registry import harbor_credentials
        from greenzone.health.targets import health_targets

        targets = health_targets(answers, state, [], endpoints, hostname=socket.gethostname())
        self.registry = Registry(
            targets.registry_url,
            credentials=harbor_credentials(targets),
            ca_file=targets.ca_file if targets.ca_file.is_file() else None,
        )

    def held(self, bundle: Path, previous: Manifest) -> dict[str, _Held]:
        """Every blob of the installed version's images, by digest, with a repository that has it:
        manifests from the bundle's layout where it carries them, else from Harbor (checked against
        their digests); a blob shared by two images is found under the first."""
        from greenzone.bundle.pull import fetch_manifest
        from greenzone.bundle.registry import RegistryRefused
        from greenzone.refs import mirror_repository

        layout = Layout(bundle / "images")
        held: dict[str, _Held] = {}

        def visit(repository: str, ref: str, descriptor: Descriptor) -> None:
            if descriptor.digest in held:
                return
            if layout.has_blob(descriptor.digest):
                body = layout.read_blob(descriptor.digest)
                media_type = descriptor.media_type or str(json.loads(body).get("mediaType") or "")
            else:
                try:
                    media_type, body = fetch_manifest(self.registry, repository, descriptor.digest, ref)
                except RegistryRefused as error:
                    if error.status != 404:  # refused (a wrong password) or failing: not an answer about it
                        raise
                    return  # gone from Harbor: what it holds may still be found under another image
            held[descriptor.digest] = _Held(repository, Descriptor(media_type, descriptor.digest, len(body)), body)
            document = json.loads(body)
            if media_type in INDEX_TYPES or "manifests" in document:
                for entry in document.get("manifests", []):
                    visit(repository, ref, Descriptor.from_json(entry))
                return
            for blob in (document.get("config"), *document.get("layers", [])):
                if isinstance(blob, dict):
                    found = Descriptor.from_json(blob)
                    held.setdefault(found.digest, _Held(repository, found))

        for image in previous.images:
            visit(mirror_repository(image.ref)[0], image.ref, Descriptor("", image.digest, 0))
        return held


def _node_hosts(answers: Answers) -> tuple[str, str | None]:
    """The inventory names to ask: the first server (every node has k3s's files) and the first GPU
    node (the models)."""
    from greenzone.deploy.inventory import build_inventory

    groups = build_inventory(answers)["all"]["children"]["k3s_cluster"]["children"]
    servers, agents = groups["server"]["hosts"], groups["agent"]["hosts"]
    hosts = {**servers, **agents}
    first_server = next(iter(servers))
    gpu = next((name for name, found in hosts.items() if found.get("greenzone_gpu_node")), None)
    return first_server, gpu


def _node_items(found: list[SiteFile], answers: Answers) -> list[dict[str, Any]]:
    server, gpu = _node_hosts(answers)
    return [
        {
            "host": server if site.source == "node" else gpu,
            "src": site.node_path,
            "path": site.file.path,
            "size": site.file.size,
        }
        for site in found
        if site.source in ("node", "gpu-node")
    ]


class SiteCopy:
    """One delta bundle and the appliance it is to be made whole from."""

    def __init__(
        self,
        state: StateDir,
        answers: Answers,
        bundle: Path,
        manifest: Manifest,
        previous: Manifest,
        endpoints: Mapping[str, str],
    ) -> None:
        self.state, self.answers, self.bundle = state, answers, bundle
        self.manifest, self.previous, self.endpoints = manifest, previous, endpoints
        missing = set(missing_from_base(bundle, manifest))
        self.wanted = locate_all(manifest, [item for item in manifest.from_base() if item.path in missing])
        located = {site.file.path for site in self.wanted}
        self.nowhere = sorted(missing - located)
        """Left out, yet of the drive's own bootstrap, which no site keeps: a delta never leaves it out."""
        self._held: dict[str, _Held] | None = None
        self._harbor: _Harbor | None = None
        self._runner: Any = None  # the nodes' fetch, while it runs: what `cancel` stops
        self._canceled = False

    def base_problem(self) -> str:
        """Why the appliance cannot complete this delta at all (it runs another version than the
        delta's base); empty when it runs the base."""
        base = self.manifest.base
        if base is None or self.previous.canonical_digest() == base.manifest_sha256:
            return ""
        return (
            f"a delta of {base.product_version}; the appliance runs {self.previous.product_version}, so the files "
            "it leaves out cannot come from here"
        )

    def cancel(self) -> None:
        """From any thread: the nodes' fetch stops at its next file (the files that came stay)."""
        self._canceled = True
        if self._runner is not None:
            self._runner.cancel()

    def _keep_runner(self, runner: Any) -> None:
        self._runner = runner
        if self._canceled:
            runner.cancel()

    def _registry_held(self) -> dict[str, _Held]:
        if self._held is None:
            self._harbor = _Harbor(self.state, self.answers, self.endpoints)
            self._held = self._harbor.held(self.bundle, self.previous)
        return self._held

    # --- asking ----------------------------------------------------------------------------------

    def look(self) -> SiteLook:
        """What the site has of each missing file; changes nothing anywhere."""
        look = SiteLook(lacking=[f"{path} (the drive's own bootstrap: no site keeps it)" for path in self.nowhere])
        self._look_state(look)
        self._look_registry(look)
        self._look_nodes(look)
        return look

    def _look_state(self, look: SiteLook) -> None:
        for site in self.wanted:
            if site.source != "state":
                continue
            kept = self.state.bundle_files / site.file.sha256
            if kept.is_file() and kept.stat().st_size == site.file.size:
                look.found.append(site)
            else:
                look.lacking.append(f"{site.file.path} (the state directory keeps no copy of it)")

    def _look_registry(self, look: SiteLook) -> None:
        from greenzone.bundle.registry import RegistryError
        from greenzone.parallel import map_all

        wanted = [site for site in self.wanted if site.source == "registry"]
        if not wanted:
            return
        try:
            held = self._registry_held()
            assert self._harbor is not None
            registry = self._harbor.registry

            def why_not(site: SiteFile) -> str:
                blob = held.get(site.digest)
                if blob is None:
                    return f"{site.file.path} (no image of {self.previous.product_version} in Harbor uses it)"
                if blob.body is None and not registry.has_blob(blob.repository, site.digest):
                    return f"{site.file.path} (Harbor's {blob.repository} lacks it)"
                return ""

            reasons = map_all(why_not, wanted, 8)
        except (RegistryError, GreenzoneError) as error:
            look.lacking.append(f"{len(wanted)} image blob(s): Harbor could not be asked ({error.title})")
            return
        except (ValueError, KeyError, TypeError) as error:  # a manifest that is not an OCI manifest
            look.lacking.append(f"{len(wanted)} image blob(s): Harbor served a manifest that cannot be read ({error})")
            return
        look.found.extend(site for site, why in zip(wanted, reasons, strict=True) if not why)
        look.lacking.extend(why for why in reasons if why)

    def _look_nodes(self, look: SiteLook) -> None:
        from greenzone.commands.reset import play_on_nodes

        wanted = [site for site in self.wanted if site.source in ("node", "gpu-node")]
        if not wanted:
            return
        items = _node_items(wanted, self.answers)
        without_host = [item for item in items if item["host"] is None]
        for item in without_host:
            look.lacking.append(f"{item['path']} (the appliance has no GPU node that keeps models)")
        items = [item for item in items if item["host"] is not None]
        if not items:
            return
        variables = {"site_files": items, "site_files_staging": ""}
        try:
            progress, log = play_on_nodes(
                self.state, self.answers, "site-files.yml", "site_files", variables, check=True, limit=_hosts(items)
            )
        except GreenzoneError as error:
            look.lacking.append(f"{len(items)} file(s) the nodes keep: the nodes could not be asked ({error.title})")
            return
        if progress.outcome == "successful":
            asked = {item["path"] for item in items}
            look.found.extend(site for site in wanted if site.file.path in asked)
            return
        reason = "; ".join(failure.line() for failure in progress.failures) or progress.outcome
        look.lacking.append(f"{len(items)} file(s) the nodes keep: {reason} (the log: {log})")

    # --- bringing --------------------------------------------------------------------------------

    def bring(self, canceled: Callable[[], bool] = lambda: False, looked: SiteLook | None = None) -> SiteLook:
        """Each missing file into the bundle, checked; stops at the first problem with what it did.
        `looked`: the preflight's look, not asked again (what went missing since fails as it is brought)."""
        look = looked if looked is not None else self.look()
        if look.lacking:
            raise InputError(
                f"{len(look.lacking)} file(s) the delta bundle leaves out are nowhere on this appliance: "
                f"{look.lacking_text()}",
                hint=f"`greenzone bundle complete {self.bundle} --base BASE_DIR --key KEY.pub` with the directory of "
                f"the bundle the appliance runs ({self.previous.product_version}), or ask the vendor for the whole "
                "bundle",
            )
        room = self.room_problem(look)
        if room:
            raise InputError(room[0], hint=room[1])
        self._tidy()
        for site in look.found:
            if canceled():
                return look
            if site.source == "state":
                copy_checked(
                    self.state.bundle_files / site.file.sha256,
                    _target(self.bundle, site.file.path),
                    site.file.sha256,
                    what="the delta's signed manifest",
                    hint=f"the state directory's copy is damaged: complete the delta with --base, or remove "
                    f"{self.state.bundle_files} and install the running bundle again",
                )
        self._bring_registry([site for site in look.found if site.source == "registry"], canceled)
        if not canceled():
            self._bring_nodes([site for site in look.found if site.source in ("node", "gpu-node")])
        self._tidy()  # once whole: what stopped runs left goes
        still = [] if canceled() else missing_from_base(self.bundle, self.manifest)
        if still:  # never reached by what the look passed; said rather than taken for whole
            raise InputError(
                f"{len(still)} file(s) the delta leaves out are still missing after it was completed, e.g. {still[0]}",
                hint="run the command again; if it stays, complete the delta with `greenzone bundle complete --base`",
            )
        return look

    def _tidy(self) -> None:
        """A stopped run's temporaries go, and any `.part` that is not a plain file (a link would turn
        the resumed download into a write elsewhere); a plain `.part` stays until the bundle is whole:
        its download resumes."""
        try:
            remove_leftovers(self.bundle, self.manifest)
        except OSError as error:
            raise EnvironmentProblem(
                f"cannot tidy {self.bundle}: {error.strerror or error}",
                hint="check the permissions of the bundle directory",
            ) from None

    def room_problem(self, look: SiteLook) -> tuple[str, str] | None:
        """Why the found files cannot be brought into the bundle directory, and the fix; None if they can."""
        if not os.access(self.bundle, os.W_OK):
            return (
                f"{self.bundle} cannot be written: the files the delta leaves out are brought into it",
                "copy the delta to a writable disk with room for the whole bundle and give that directory",
            )
        free = shutil.disk_usage(self.bundle).free
        if free < look.bytes:
            return (
                f"{self.bundle} has {free / 2**30:.2f} GiB free; the files brought from the site need "
                f"{look.bytes / 2**30:.2f} GiB",
                "free space there, or copy the delta to a disk with room for the whole bundle",
            )
        return None

    def _bring_registry(self, wanted: list[SiteFile], canceled: Callable[[], bool]) -> None:
        from greenzone.atomic import write_bytes_atomic
        from greenzone.bundle.pull import pull_blob
        from greenzone.parallel import map_all

        if not wanted:
            return
        held = self._registry_held()
        assert self._harbor is not None
        registry = self._harbor.registry
        layout = Layout(self.bundle / "images")

        def one(site: SiteFile) -> None:
            if canceled():
                return
            blob = held[site.digest]
            target = _target(self.bundle, site.file.path)  # no link on the way out of the bundle
            if blob.body is not None:  # a manifest, read from Harbor and checked against its digest
                write_bytes_atomic(target, blob.body)
            else:
                pull_blob(registry, blob.repository, blob.descriptor, layout)

        map_all(one, sorted(wanted, key=lambda site: -site.file.size), 4)

    def _bring_nodes(self, wanted: list[SiteFile]) -> None:
        from greenzone.commands.reset import play_on_nodes

        if not wanted:
            return
        staging = self.bundle / COMPLETION_STAGING
        shutil.rmtree(staging, ignore_errors=True)  # what a killed run left
        items = _node_items(wanted, self.answers)
        try:
            staging.mkdir(mode=0o700)
            variables = {"site_files": items, "site_files_staging": str(staging)}
            progress, log = play_on_nodes(
                self.state,
                self.answers,
                "site-files.yml",
                "site_files",
                variables,
                check=False,
                limit=_hosts(items),
                on_runner=self._keep_runner,
            )
            self._runner = None
            # Whatever the run's outcome, each whole and matching file joins the bundle: a re-run fetches
            # only the rest.
            problems = [problem for site in wanted if (problem := _adopt(staging, self.bundle, site))]
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        if not problems or self._canceled:  # canceled: what came is kept, the rest comes next time
            return
        reason = "; ".join(failure.line() for failure in progress.failures) if progress.failures else problems[0]
        raise InputError(
            f"could not bring {len(problems)} of the nodes' files: {reason}",
            hint=f"fix it (the log: {log}) and run the command again, which brings only the rest; or complete the "
            "delta with --base from the base bundle's directory",
        )


def _hosts(items: list[dict[str, Any]]) -> str:
    """Only the nodes asked for a file: one that is down and holds none does not stop the completion."""
    return ",".join(sorted({str(item["host"]) for item in items}))


def _adopt(staging: Path, bundle: Path, site: SiteFile) -> str:
    """The fetched file takes its place in the bundle when its bytes are the signed ones; else why not."""
    from greenzone.bundle.hashing import sha256_file

    staged = staging / site.file.path
    if staged.is_symlink() or not staged.is_file():
        return f"{site.node_path} was not fetched"
    if staged.stat().st_size != site.file.size or sha256_file(staged).sha256 != site.file.sha256:
        return f"{site.node_path} on the node differs from the delta's signed manifest ({site.file.path})"
    try:
        target = _target(bundle, site.file.path)
        staged.chmod(site.mode)
        try:
            staged.replace(target)
        except OSError as error:
            if error.errno != errno.EXDEV:  # a folder of the bundle on another file system: copy it
                raise
            copy_checked(staged, target, site.file.sha256)
    except OSError as error:
        return f"{site.file.path} could not be written: {error.strerror or error}"
    except InputError as error:
        return error.title
    return ""


def _target(bundle: Path, relative: str) -> Path:
    from greenzone.bundle.delta import inside

    target = inside(bundle, relative)
    target.parent.mkdir(parents=True, exist_ok=True)
    return target

"""Every file and folder greenzone keeps, named once.

The state directory outlives any one command: the install writes it, `health` reads it at 3 a.m.,
upgrades, node changes and support bundles will read and extend it. Spelling a file name in two
modules is how one of them ends up reading a file the other stopped writing, so nothing outside
this module joins a name onto the state directory. The playbooks get the same paths through
`playbook_vars()` (written into `vars.json`), not by spelling them in YAML.

Where it is: `--state-dir`, else `$GREENZONE_STATE_DIR`, else /var/lib/greenzone for root, else
`$XDG_STATE_HOME/greenzone` for a user who cannot write there, so that read-only commands
(validate, preflight) still work without sudo.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenzone.atomic import write_bytes_atomic
from greenzone.errors import EnvironmentProblem

DEFAULT_ROOT = Path("/var/lib/greenzone")
ENV_VAR = "GREENZONE_STATE_DIR"


def _user_root(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "greenzone"


@dataclass(frozen=True)
class StateDir:
    root: Path

    @classmethod
    def locate(cls, explicit: Path | None = None, environ: Mapping[str, str] | None = None) -> StateDir:
        """The state directory a command should use (see the module's docstring for the order)."""
        environ = os.environ if environ is None else environ
        # Absolute, because the playbooks read these paths from another working directory.
        if explicit is not None:
            return cls(explicit.absolute())
        if environ.get(ENV_VAR):
            return cls(Path(environ[ENV_VAR]).absolute())
        if os.access(DEFAULT_ROOT, os.W_OK) or (not DEFAULT_ROOT.exists() and os.access(DEFAULT_ROOT.parent, os.W_OK)):
            return cls(DEFAULT_ROOT)
        return cls(_user_root(environ))

    def __str__(self) -> str:
        return str(self.root)

    def create(self) -> None:
        """The directory itself, private: it holds the credentials and the CA's key."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root.chmod(0o700)

    # --- secrets and trust (credentials: 0600; the CA certificate is public) ----------------------

    @property
    def credentials(self) -> Path:
        """Generated passwords, tokens, the CA and registry keys (mode 0600; back it up)."""
        return self.root / "credentials.yaml"

    @property
    def ca_certificate(self) -> Path:
        """The appliance CA's certificate: copied to every node and offered to browsers."""
        return self.root / "ca.crt"

    @property
    def kubeconfig(self) -> Path:
        """The installer's kubeconfig, fetched from the first server once k3s runs."""
        return self.root / "kubeconfig"

    # --- what the playbooks read ---------------------------------------------------------------------

    @property
    def inventory(self) -> Path:
        return self.root / "inventory.json"

    @property
    def playbook_vars_file(self) -> Path:
        return self.root / "vars.json"

    @property
    def values_dir(self) -> Path:
        return self.root / "values"

    def values_file(self, release: str) -> Path:
        return self.values_dir / f"{release}.yaml"

    @property
    def bin_dir(self) -> Path:
        """Tools unpacked from the bundle (helm), so the site never needs them on PATH."""
        return self.root / "bin"

    @property
    def helm(self) -> Path:
        return self.bin_dir / "helm"

    @property
    def bootstrap_archive(self) -> Path:
        """The bundle's bootstrap images as one archive, built here and copied to each node."""
        return self.root / "greenzone-bootstrap-images.tar"

    # --- what an install records ---------------------------------------------------------------------

    @property
    def install_state(self) -> Path:
        """Which phase is done with which inputs: what a re-run resumes from."""
        return self.root / "install-state.json"

    @property
    def install_log(self) -> Path:
        """Ansible's full output of every phase, secrets masked."""
        return self.root / "install.log"

    @property
    def installed_answers(self) -> Path:
        """The answers of the last install, as the model read them, so that `greenzone health` needs no
        file name. Its own name keeps it apart from an `answers.yaml` the wizard or the site saved here."""
        return self.root / "installed-answers.yaml"

    @property
    def installed_manifest(self) -> Path:
        """The installed bundle's manifest: the images health expects in the registry once the media is gone."""
        return self.root / "installed-bundle.yaml"

    @property
    def bundle_files(self) -> Path:
        """Copies of the installed bundle's files that no node or registry keeps byte for byte (the
        charts' and helm's archives, the image layout's index), each named by its sha256: with Harbor's
        blobs and the nodes' files, what makes a delta bundle whole once the base's drive is gone."""
        return self.root / "bundle-files"

    @property
    def last_health(self) -> Path:
        """The last `greenzone health` run's JSON, which a support bundle carries beside a fresh one:
        the problem the operator saw may be gone by the time the bundle is made."""
        return self.root / "last-health.json"

    @property
    def saved_answers(self) -> Path:
        """Where the wizard offers to save the answers it built."""
        return self.root / "answers.yaml"

    # --- upgrades --------------------------------------------------------------------------------------

    @property
    def upgrades_dir(self) -> Path:
        """One folder per upgrade (`upgrade/history.py`): the plan, the releases' revisions and the
        previous version's manifest, answers and values, which a rollback and `--finalize` read."""
        return self.root / "upgrades"

    def upgrade_record(self, upgrade_id: str) -> Path:
        return self.upgrades_dir / upgrade_id

    # --- logs ------------------------------------------------------------------------------------------

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    @property
    def check_log(self) -> Path:
        """The Ansible log of the last check-mode run (`install --check`), which keeps nothing else."""
        return self.logs_dir / "install-check.log"

    @property
    def log_file(self) -> Path:
        """Every command's own log (0600), appended to."""
        return self.logs_dir / "greenzone.log"

    def owned(self) -> list[Path]:
        """Every top-level entry this class names that exists: what a reset moves to its backup (and
        nothing else a mistaken --state-dir, such as a home directory, happens to hold)."""
        names = {
            getattr(self, name)
            for name, value in vars(type(self)).items()
            if isinstance(value, property) and name != "root"
        }
        top = {path for path in names if isinstance(path, Path) and path.parent == self.root}
        return sorted(path for path in top if path.exists() or path.is_symlink())

    def scratch_copy(self, root: Path) -> StateDir:
        """A state directory at `root` holding copies of what a run reads or compares from this one
        (the credentials, the CA, the kubeconfig, helm and its folder, the bootstrap archive), modes
        kept, so that check mode predicts against what a real run would find."""
        scratch = StateDir(root)
        try:
            scratch.create()
            if self.bin_dir.is_dir():
                shutil.copytree(self.bin_dir, scratch.bin_dir, symlinks=True)
            for name in ("credentials", "ca_certificate", "kubeconfig"):
                source, copy = getattr(self, name), getattr(scratch, name)
                if source.is_file():
                    shutil.copy2(source, copy)
            if self.bootstrap_archive.is_file():  # several GB: a link, since check mode never writes it in place
                try:
                    os.link(self.bootstrap_archive, scratch.bootstrap_archive)
                except OSError:
                    shutil.copy2(self.bootstrap_archive, scratch.bootstrap_archive)
        except (OSError, shutil.Error) as error:
            raise EnvironmentProblem(
                f"check mode cannot copy what a run reads from {self.root} into {root}: {error}",
                hint="run as the user who owns the state directory (root for /var/lib/greenzone)",
            ) from None
        return scratch

    def keep_check_log(self, log: Path) -> None:
        """Keep a check run's Ansible log (the rest of its workspace is thrown away)."""
        if not log.is_file():
            return
        with contextlib.suppress(OSError):  # the prediction stands without its log
            self.logs_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            write_bytes_atomic(self.check_log, log.read_bytes(), mode=0o600)

    def playbook_vars(self, releases: list[str]) -> dict[str, Any]:
        """The paths the roles read, under the names their argument specs declare (a test holds
        the two together); `releases` are those whose values files the install writes."""
        return {
            "greenzone_credentials_file": str(self.credentials),
            "greenzone_ca_file": str(self.ca_certificate),
            "greenzone_kubeconfig": str(self.kubeconfig),
            "greenzone_bin_dir": str(self.bin_dir),
            "greenzone_helm": str(self.helm),
            "greenzone_bootstrap_archive": str(self.bootstrap_archive),
            "greenzone_values_files": {release: str(self.values_file(release)) for release in releases},
        }

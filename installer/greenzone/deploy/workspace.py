"""Everything the playbooks read from the installing machine, written before the first phase.

The state directory (default /var/lib/greenzone, mode 0700) holds the generated inventory, the
extra variables, one values file per release, the credentials and CA (deploy/credentials.py), the
install state, the full log and, once k3s runs, the installer's kubeconfig. With these files an
operator can also run any phase by hand:

    ansible-playbook -i STATE/inventory.json playbooks/site.yml -e @STATE/vars.json --tags harbor

Every file is rewritten only when its content changes, so preparing twice changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from greenzone.answers.dump import answers_yaml
from greenzone.answers.model import Answers
from greenzone.atomic import write_text_if_changed
from greenzone.bundle.manifest import MANIFEST_NAME
from greenzone.deploy.credentials import ensure_credentials
from greenzone.deploy.inventory import build_inventory
from greenzone.values.releases import appliance_releases, values_yaml

DEFAULT_STATE_DIR = Path("/var/lib/greenzone")
PLAYBOOKS_DIR = Path(__file__).resolve().parents[3] / "playbooks"
STATE_FILE = "install-state.json"
INSTALLED_ANSWERS = "installed-answers.yaml"
"""The answers the last install (or check run) prepared, as the model read them, so that `greenzone health`
needs no file name. Its own name keeps it apart from an `answers.yaml` the wizard or the site saved here."""
INSTALLED_MANIFEST = "installed-bundle.yaml"
"""The installed bundle's manifest: the images health expects in the registry once the media is gone."""


@dataclass(frozen=True)
class Workspace:
    state_dir: Path
    inventory_file: Path
    vars_file: Path
    extravars: dict[str, Any]
    written: tuple[str, ...]
    """Files this preparation wrote (empty on an unchanged re-run)."""

    @property
    def log_file(self) -> Path:
        return self.state_dir / "install.log"

    @property
    def state_file(self) -> Path:
        return self.state_dir / STATE_FILE


def prepare(
    answers: Answers,
    state_dir: Path,
    *,
    source: str,
    bundle: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Workspace:
    """Write the inventory, variables, values and credentials for `answers` into `state_dir`."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    state_dir.chmod(0o700)
    written = ensure_credentials(state_dir, answers, environ)
    inventory = build_inventory(answers)
    if bundle is not None:
        inventory["all"]["children"]["k3s_cluster"]["vars"]["greenzone_bundle_path"] = str(bundle)
    extravars = {"greenzone_state_dir": str(state_dir)}
    files = {
        state_dir / "inventory.json": json.dumps(inventory, indent=2, sort_keys=True) + "\n",
        state_dir / "vars.json": json.dumps(extravars, indent=2, sort_keys=True) + "\n",
        state_dir / INSTALLED_ANSWERS: answers_yaml(
            answers,
            f"Installed from {source}",
            header="# The answers of the last install; `greenzone health` reads them\n",
        ),
    }
    manifest = bundle / MANIFEST_NAME if bundle is not None else None
    if manifest is not None and manifest.is_file():
        files[state_dir / INSTALLED_MANIFEST] = manifest.read_text(encoding="utf-8")
    for release in appliance_releases(answers):
        files[state_dir / "values" / f"{release.name}.yaml"] = values_yaml(release, source)
    for path, text in files.items():
        if write_text_if_changed(path, text, 0o600):
            written.append(str(path.relative_to(state_dir)))
    return Workspace(state_dir, state_dir / "inventory.json", state_dir / "vars.json", extravars, tuple(written))

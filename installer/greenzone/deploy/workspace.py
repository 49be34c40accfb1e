"""Everything the playbooks read from the installing machine, written before the first phase.

The state directory (`statedir.StateDir`, mode 0700) holds the generated inventory, the
extra variables, one values file per release, the credentials and CA (deploy/credentials.py), the
install state, the full log and, once k3s runs, the installer's kubeconfig. With these files an
operator can also run any phase by hand:

    ansible-playbook -i STATE/inventory.json site.yml -e @STATE/vars.json --tags harbor

(run from the playbooks directory inside the installed package, `greenzone.resources.playbooks_dir()`).

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
from greenzone.bundle.manifest import MANIFEST_NAME, read_manifest
from greenzone.deploy.credentials import ensure_credentials
from greenzone.deploy.inventory import build_inventory
from greenzone.preflight.rules import bundle_machines
from greenzone.statedir import StateDir
from greenzone.values.releases import appliance_releases, values_yaml


@dataclass(frozen=True)
class Workspace:
    state: StateDir
    extravars: dict[str, Any]
    written: tuple[str, ...]
    """Files this preparation wrote (empty on an unchanged re-run)."""


def installed_answers_text(answers: Answers, note: str) -> str:
    """The state directory's record of the installed answers (what health and the node commands read)."""
    return answers_yaml(answers, note, header="# The answers of the last install; `greenzone health` reads them\n")


def _keep_bundle_files(state: StateDir, bundle: Path, text: str) -> None:
    """Before the installed manifest is replaced: what a delta of this version will need from the
    site, beside the copies of every version a rollback may still return to. Best effort: a copy that
    cannot be kept is logged, and a later delta says it is missing (with the `--base` way round)."""
    import logging

    from greenzone.bundle.kept import keep_installed_files
    from greenzone.bundle.manifest import ManifestError, parse_manifest
    from greenzone.errors import GreenzoneError
    from greenzone.upgrade.history import previous_file, read_records

    try:
        new = parse_manifest(text, str(bundle / MANIFEST_NAME))
        records, _ = read_records(state)  # a damaged record is named by the commands that act on it
        # The versions a rollback may return to: each succeeded upgrade not finalized, and the last one's.
        returns = [record for record in records if record.outcome == "succeeded" and not record.finalized]
        sources = [state.installed_manifest] + [
            previous_file(state, record, MANIFEST_NAME) for record in [*returns, *records[-1:]]
        ]
        others = []
        for source in sources:
            try:
                others.append(parse_manifest(source.read_text(encoding="utf-8"), str(source)))
            except (OSError, ManifestError):
                continue  # gone or damaged: nothing of it can be kept either way
        keep_installed_files(state.bundle_files, bundle, new, others)
    except (OSError, ManifestError, GreenzoneError) as error:
        logging.getLogger(__name__).warning("the bundle's files were not kept in %s: %s", state.bundle_files, error)


def prepare(
    answers: Answers,
    state: StateDir,
    *,
    source: str,
    bundle: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Workspace:
    """Write the inventory, variables, values and credentials for `answers` into the state directory."""
    state.create()
    written = ensure_credentials(state, answers, environ)
    inventory = build_inventory(answers)
    if bundle is not None:
        cluster_vars = inventory["all"]["children"]["k3s_cluster"]["vars"]
        cluster_vars["greenzone_bundle_path"] = str(bundle)
        if (bundle / MANIFEST_NAME).is_file():
            carried = read_manifest(bundle)
            cluster_vars["greenzone_bundle_machines"] = bundle_machines(carried)
            if answers.gpu.driver == "operator":
                refs = [image.ref for image in carried.images]
                cluster_vars["greenzone_driver_images"] = [
                    ref for ref in refs if ref.startswith("nvcr.io/nvidia/driver:")
                ]
    releases = appliance_releases(answers)
    extravars: dict[str, Any] = state.playbook_vars([release.name for release in releases])
    files = {
        state.inventory: json.dumps(inventory, indent=2) + "\n",  # the answers' order: see inventory_text
        state.playbook_vars_file: json.dumps(extravars, indent=2, sort_keys=True) + "\n",
        state.installed_answers: installed_answers_text(answers, f"Installed from {source}"),
    }
    if bundle is not None and (bundle / MANIFEST_NAME).is_file():
        files[state.installed_manifest] = (bundle / MANIFEST_NAME).read_text(encoding="utf-8")
        _keep_bundle_files(state, bundle, files[state.installed_manifest])
    for release in releases:
        files[state.values_file(release.name)] = values_yaml(release, source)
    for path, text in files.items():
        if write_text_if_changed(path, text, 0o600):
            written.append(str(path.relative_to(state.root)))
    return Workspace(state, extravars, tuple(written))

"""The Vagrantfile stays valid: Vagrant itself (Debian's `vagrant`) validates it. Booting the VM needs
a hypervisor and runs on a real machine (README, "End to end on a real machine").

`--ignore-provider` because checking the libvirt/virtualbox blocks needs a running libvirtd or an
installed VirtualBox; the core config, the synced folders, the network and the provisioner are checked.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from greenzone.answers.files import load_answers
from tests.support.paths import REPO

pytestmark = pytest.mark.skipif(
    shutil.which("vagrant") is None, reason="vagrant is not installed (.ci/setup installs it)"
)


def validate(directory: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "VAGRANT_CWD": str(directory),
        "VAGRANT_DOTFILE_PATH": str(tmp_path / "dotfile"),
        "VAGRANT_HOME": str(tmp_path / "home"),
        "VAGRANT_CHECKPOINT_DISABLE": "1",
        "GZ_MEDIA": str(tmp_path),
    }
    return subprocess.run(
        ["vagrant", "validate", "--ignore-provider"], capture_output=True, text=True, env=env, timeout=120, check=False
    )


def test_vagrantfile_validates(tmp_path: Path) -> None:
    result = validate(REPO, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validated successfully" in result.stdout


def test_a_broken_vagrantfile_is_caught(tmp_path: Path) -> None:
    """The check can fail: a misspelt setting is an error Vagrant names."""
    copy = tmp_path / "copy"
    copy.mkdir()
    text = (REPO / "Vagrantfile").read_text()
    (copy / "Vagrantfile").write_text(text.replace("config.vm.hostname =", "config.vm.hostnme ="))
    result = validate(copy, tmp_path)
    assert result.returncode != 0
    assert "hostnme" in result.stdout + result.stderr


def test_the_vm_installs_the_vagrant_example_unattended() -> None:
    text = (REPO / "Vagrantfile").read_text()
    assert 'ENV.fetch("GZ_ANSWERS", "examples/vagrant.yaml")' in text
    assert re.search(r'greenzone install --answers "/vagrant/\$ANSWERS" --yes --no-tui', text)
    # Installed through the drive's bootstrap, never from the checkout or a package index.
    assert "sh /media/greenzone/greenzone-bundle/install.sh --no-start" in text
    assert "pip install" not in text and "apt-get" not in text
    validation = load_answers(REPO / "examples" / "vagrant.yaml")
    assert validation.ok, [problem.one_line() for problem in validation.problems]
    answers = validation.answers
    assert answers is not None and str(answers.bundle.path) == "/media/greenzone/greenzone-bundle"
    assert answers.bundle.public_key.parent == answers.bundle.path.parent  # beside the bundle, not inside
    assert answers.network.advertise_ip == re.search(r'VM_IP\s*=\s*"([\d.]+)"', text).group(1)  # type: ignore[union-attr]

"""Answers -> the ordered install phases (pure).

A phase is one play of `playbooks/site.yml`, selected by its tag, so that the runner can record,
skip and resume each one on its own and the operator can run one by hand
(`ansible-playbook site.yml --tags harbor`). The order is forced by what each phase needs: the
bootstrap images must be in containerd before the GPU operator and Harbor start, Harbor must run
before anything else can be pushed into it, and the workloads pull from Harbor.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: the wizard reads plans and states before the model loads
    from greenzone.answers.model import Answers


@dataclass(frozen=True)
class Phase:
    name: str
    """Tag of the play in site.yml and key in the install state."""

    title: str
    """What the operator sees in the progress list."""

    needs_cluster: bool
    """Talks to a running k3s; `--check` cannot predict these beyond the release diff."""

    typical_seconds: int
    """How long the phase takes on a typical appliance (NVMe, 16+ cores); only weights the overall
    progress bar and the first ETA, which then follow the measured pace."""


PREFLIGHT = Phase("preflight", "Check every node", needs_cluster=False, typical_seconds=20)
K3S = Phase("k3s", "Install k3s (air-gapped)", needs_cluster=False, typical_seconds=120)
IMAGES = Phase("images", "Import bootstrap images", needs_cluster=False, typical_seconds=90)
GPU_OPERATOR = Phase("gpu_operator", "NVIDIA GPU operator", needs_cluster=True, typical_seconds=300)
HARBOR = Phase("harbor", "Harbor registry", needs_cluster=True, typical_seconds=240)
REGISTRY = Phase("registry", "Push images into Harbor", needs_cluster=True, typical_seconds=300)
MONITORING = Phase("monitoring", "GPU and usage dashboards", needs_cluster=True, typical_seconds=180)
INFERENCE = Phase("inference", "Inference engine and models", needs_cluster=True, typical_seconds=300)
GUARDRAILS = Phase("guardrails", "Green-zone guard rails", needs_cluster=True, typical_seconds=30)

ALL_PHASES = (PREFLIGHT, K3S, IMAGES, GPU_OPERATOR, HARBOR, REGISTRY, MONITORING, INFERENCE, GUARDRAILS)


def plan(answers: Answers) -> tuple[Phase, ...]:
    """The phases this appliance needs, in the order they must run."""
    return tuple(phase for phase in ALL_PHASES if phase is not MONITORING or answers.monitoring.enabled)


#: An upgrade changes nothing that runs until the new images are in place: the bootstrap images are
#: imported and the others pushed into the running Harbor first; then k3s (servers one at a time,
#: then agents: docs.k3s.io/upgrades/manual), then the releases in the install's dependency order.
UPGRADE_ORDER = (
    "preflight",
    "images",
    "registry",
    "k3s",
    "gpu_operator",
    "harbor",
    "monitoring",
    "inference",
    "guardrails",
)


def upgrade_plan(answers: Answers) -> tuple[Phase, ...]:
    return tuple(sorted(plan(answers), key=lambda phase: UPGRADE_ORDER.index(phase.name)))

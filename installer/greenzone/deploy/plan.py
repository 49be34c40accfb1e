"""Answers -> the ordered install phases (pure).

A phase is one play of `playbooks/site.yml`, selected by its tag, so that the runner can record,
skip and resume each one on its own and the operator can run one by hand
(`ansible-playbook site.yml --tags harbor`). The order is forced by what each phase needs: the
bootstrap images must be in containerd before the GPU operator and Harbor start, Harbor must run
before anything else can be pushed into it, and the workloads pull from Harbor.
"""

from __future__ import annotations

from dataclasses import dataclass

from greenzone.answers.model import Answers


@dataclass(frozen=True)
class Phase:
    name: str
    """Tag of the play in site.yml and key in the install state."""

    title: str
    """What the operator sees in the progress list."""

    needs_cluster: bool
    """Talks to a running k3s; `--check` cannot predict these beyond the release diff."""


PREFLIGHT = Phase("preflight", "Check every node", needs_cluster=False)
K3S = Phase("k3s", "Install k3s (air-gapped)", needs_cluster=False)
IMAGES = Phase("images", "Import bootstrap images", needs_cluster=False)
GPU_OPERATOR = Phase("gpu_operator", "NVIDIA GPU operator", needs_cluster=True)
HARBOR = Phase("harbor", "Harbor registry", needs_cluster=True)
REGISTRY = Phase("registry", "Push images into Harbor", needs_cluster=True)
MONITORING = Phase("monitoring", "GPU and usage dashboards", needs_cluster=True)
INFERENCE = Phase("inference", "Inference engine and models", needs_cluster=True)
GUARDRAILS = Phase("guardrails", "Green-zone guard rails", needs_cluster=True)

ALL_PHASES = (PREFLIGHT, K3S, IMAGES, GPU_OPERATOR, HARBOR, REGISTRY, MONITORING, INFERENCE, GUARDRAILS)


def plan(answers: Answers) -> tuple[Phase, ...]:
    """The phases this appliance needs, in the order they must run."""
    return tuple(phase for phase in ALL_PHASES if phase is not MONITORING or answers.monitoring.enabled)

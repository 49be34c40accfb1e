"""The install's one progress model: phase states, the overall fraction and the ETA (pure).

The wizard's phase list and bars, the line-per-event stream and the JSON events all read this, so
the three can never disagree about where an install stands.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from greenzone.deploy.ansible_events import PhaseProgress
from greenzone.deploy.plan import Phase

PhaseState = Literal["pending", "skipped", "running", "done", "failed", "canceled"]
_FROM_OUTCOME: dict[str, PhaseState] = {
    "running": "running",
    "successful": "done",
    "failed": "failed",
    "canceled": "canceled",
}
MIN_MEASURED = 0.05
"""Below this fraction the measured pace says little; the ETA uses the phases' typical durations."""


@dataclass
class PhaseView:
    phase: Phase
    state: PhaseState = "pending"
    progress: PhaseProgress | None = None

    @property
    def fraction(self) -> float:
        if self.state in ("done", "skipped"):
            return 1.0
        return self.progress.fraction if self.progress is not None else 0.0


@dataclass
class Tracker:
    views: list[PhaseView]
    started: float
    check: bool = False
    changes: list[str] = field(default_factory=list)

    @classmethod
    def for_plan(cls, phases: Sequence[Phase], pending: Sequence[str], now: float, *, check: bool = False) -> Tracker:
        """Phases not in `pending` were done earlier with the same inputs: a resumed install skips them."""
        views = [PhaseView(phase, "pending" if phase.name in pending else "skipped") for phase in phases]
        return cls(views, now, check)

    def view(self, name: str) -> PhaseView:
        for view in self.views:
            if view.phase.name == name:
                return view
        raise KeyError(name)

    def update(self, progress: PhaseProgress) -> None:
        view = self.view(progress.phase)
        view.progress = progress
        view.state = _FROM_OUTCOME[progress.outcome]

    @property
    def current(self) -> PhaseView | None:
        running = [view for view in self.views if view.state == "running"]
        return running[0] if running else None

    def _weights(self) -> list[tuple[PhaseView, int]]:
        return [(view, view.phase.typical_seconds) for view in self.views if view.state != "skipped"]

    def fraction(self) -> float:
        weighted = self._weights()
        total = sum(weight for _, weight in weighted)
        if not total:
            return 1.0
        return sum(view.fraction * weight for view, weight in weighted) / total

    def eta(self, now: float) -> float | None:
        """Seconds left: the plan's remaining work at the pace this run has shown, once it has shown
        one (a phase finished, or enough tasks done); before that, the typical durations, except in
        check mode, whose runs skip the waits those durations are made of. None when ended or unknown.

        The pace is this site's and this run's: a fast check run or a small appliance says "2 min"
        after its first phase instead of the 26 min a typical first install takes."""
        if self.finished:
            return None
        fraction = self.fraction()
        measured = fraction >= MIN_MEASURED or any(view.state == "done" for view in self.views)
        if measured and fraction > 0:
            return (now - self.started) * (1 - fraction) / fraction
        if self.check:
            return None
        return float(sum(weight * (1 - view.fraction) for view, weight in self._weights()))

    @property
    def finished(self) -> bool:
        return all(view.state in ("done", "skipped") for view in self.views) or any(
            view.state in ("failed", "canceled") for view in self.views
        )

    @property
    def outcome(self) -> Literal["running", "successful", "failed", "canceled"]:
        states = {view.state for view in self.views}
        if "canceled" in states:
            return "canceled"
        if "failed" in states:
            return "failed"
        return "successful" if states <= {"done", "skipped"} else "running"


def duration(seconds: float) -> str:
    """`1 h 05 min`, `4 min 10 s`, `12 s`: what an operator reads at a glance."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    if minutes:
        return f"{minutes} min {secs:02d} s"
    return f"{secs} s"

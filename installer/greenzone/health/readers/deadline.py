"""The run's time budget: every call takes its timeout from what is left, so a dead layer costs at
most the budget, never the sum of every timeout."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

MIN_TIMEOUT = 0.05


@dataclass
class Deadline:
    seconds: float
    start: float = field(default_factory=time.monotonic)

    def remaining(self) -> float:
        return max(0.0, self.start + self.seconds - time.monotonic())

    def timeout(self, cap: float) -> float:
        """A per-call timeout: at most `cap`, never more than what is left (and never zero, which
        urllib would read as "non-blocking")."""
        return max(MIN_TIMEOUT, min(cap, self.remaining()))

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

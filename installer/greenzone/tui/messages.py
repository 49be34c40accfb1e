"""Messages the wizard's screens send to the app, which alone knows the order of the steps."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message


@dataclass
class StepFinished(Message):
    """The current step is complete (its own conditions held); the app shows the step after it."""

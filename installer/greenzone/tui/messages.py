"""Messages the wizard's screens send to the app, which alone knows the order of the steps."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message
from textual.screen import Screen


@dataclass
class StepFinished(Message):
    """A step is complete (its own conditions held); the app shows the step after it."""

    step: type[Screen[None]]
    """Which step: the app's top screen may be a dialog over it by the time this arrives."""

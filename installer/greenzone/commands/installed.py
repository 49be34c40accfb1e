"""The installed appliance's state directory and answers, for the commands that change it afterwards."""

from __future__ import annotations

from pathlib import Path

from greenzone.answers.model import Answers
from greenzone.errors import InputError
from greenzone.statedir import StateDir


def installed(state_dir: Path | None) -> tuple[StateDir, Answers]:
    from greenzone.answers.files import load_valid_answers

    state = StateDir.locate(state_dir)
    if not state.installed_answers.is_file():
        raise InputError(
            f"nothing is installed from {state}", hint="run it on the machine that installed the appliance"
        )
    return state, load_valid_answers(state.installed_answers)

"""The one yes/no question the day-2 commands ask before they change a running appliance."""

from __future__ import annotations

import sys

from greenzone.errors import InputError


def confirm(question: str, *, what: str, unchanged: str = "nothing was changed") -> None:
    """Ask on a terminal; without one, refuse and say how to go on (automation passes --yes).
    `what` says what needs the confirmation, `unchanged` what a refusal leaves as it was."""
    if not sys.stdin.isatty():
        raise InputError(
            f"{what} needs a confirmation; {unchanged}",
            hint="see what it does with --check, then pass --yes (automation) or answer on a terminal",
        )
    try:
        reply = input(f"{question} [y/N] ").strip().lower()
    except EOFError:
        reply = ""
    if reply not in ("y", "yes"):
        raise InputError(f"not confirmed; {unchanged}", hint="answer `y`, or pass --yes")

"""This machine's facts, read once for every front end (`greenzone preflight`, the install session)."""

from __future__ import annotations

import time

from greenzone.answers.model import Answers
from greenzone.preflight.facts_model import Facts
from greenzone.preflight.rules import required_ports
from greenzone.statedir import StateDir


def gather_facts(answers: Answers | None, state: StateDir) -> Facts:
    from greenzone.preflight.gpu import read_nvml
    from greenzone.preflight.host import read_host

    started = time.monotonic()
    host = read_host(required_ports(answers), state.root)
    nvml = read_nvml()
    return Facts(host, nvml, {"seconds": round(time.monotonic() - started, 3)})

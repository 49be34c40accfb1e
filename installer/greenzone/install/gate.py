"""Whether preflight lets an install start, and which failures the operator chose to override (pure).

`--force-preflight cpu,memory` is for the cases the thresholds cannot know about (a lab box, a disk
that will be grown tomorrow). Only failures can be overridden and each must be named: a typo must
not silently let everything through, so an unknown name is an input error with the valid ones.
The same names reach every node's preflight phase (`greenzone_force_preflight`), judged by the same rules.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace

from greenzone.answers.problems import did_you_mean
from greenzone.errors import InputError
from greenzone.results import Check, Status

ROLE_CHECKS = (
    "cpu",
    "memory",
    "disk k3s data dir",
    "arch",
    "os",
    "default route",
    "selinux",
    "bundle platform",
    "driver image",
    "nouveau",
    "module overlay",
    "module br_netfilter",
    "nvidia driver",
    "gpus",
)
"""Failures a node's preflight phase can report (the same rules, preflight/node.py), accepted by
`--force-preflight` even when the installing machine is not a node and so reports none of them."""
_PORT = re.compile(r"port \d{1,5}")


@dataclass(frozen=True)
class Gate:
    checks: tuple[Check, ...]
    """The preflight checks, overridden failures turned into warnings that say so."""

    blocking: tuple[Check, ...]

    @property
    def open(self) -> bool:
        return not self.blocking


def comma_list(values: Iterable[str] | None) -> frozenset[str]:
    """The names of a repeatable option that also takes them comma-separated (`--skip-tags a,b`)."""
    return frozenset(name.strip() for value in values or () for name in value.split(",") if name.strip())


def parse_forced(values: Iterable[str] | None) -> frozenset[str]:
    """`--force-preflight` takes comma-separated names and may be repeated."""
    return comma_list(values)


def check_forced_names(forced: Collection[str], checks: Iterable[Check]) -> None:
    known = {check.name for check in checks} | set(ROLE_CHECKS)
    unknown = sorted(name for name in forced if name not in known and not _PORT.fullmatch(name))
    if not unknown:
        return
    hints = [f"`{name}`: did you mean `{guess}`?" for name in unknown if (guess := did_you_mean(name, sorted(known)))]
    raise InputError(
        f"--force-preflight names no check called {', '.join(repr(name) for name in unknown)}",
        hint=" ".join(hints) or f"check names: {', '.join(sorted(known))}, or `port N`",
    )


def preflight_gate(checks: Iterable[Check], forced: Collection[str]) -> Gate:
    judged = []
    for check in checks:
        if check.status is Status.FAIL and check.name in forced:
            check = replace(
                check,
                status=Status.WARN,
                detail=f"{check.detail} (overridden by --force-preflight)",
            )
        judged.append(check)
    blocking = tuple(check for check in judged if check.status is Status.FAIL)
    return Gate(tuple(judged), blocking)

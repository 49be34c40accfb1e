"""Does the cloud registry still hold what the bundle holds? (pure)

Pods of the cloud copy pull by digest, so a tag moved in the registry does not change what runs
today; it does change what anyone pulling by tag gets, and it means someone pushed over the mirror.
Both a moved tag and a missing digest are failures; the adapter gathers the observations.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from greenzone.results import Check, Status, verdict

_registry = functools.partial(verdict, group="cloud registry")


@dataclass(frozen=True)
class Held:
    """What the registry answered for one artifact."""

    name: str
    """`docker.io/ollama/ollama:0.6.5`, or `chart greenzone-inference 0.1.0`."""
    expected: str
    """Digest the bundle holds (for a chart: the sha256 of its archive, helm's layer digest)."""
    tag_digest: str = ""
    """What the tag resolves to in the registry; empty when the tag is absent."""
    has_expected: bool = False
    """Whether the registry holds the expected digest at all."""
    error: str = ""


def judge_held(kind: str, held: list[Held], where: str) -> Check:
    name = f"{kind} in {where}"
    problems = []
    for item in held:
        if item.error:
            problems.append(f"{item.name}: {item.error}")
        elif not item.has_expected:
            problems.append(f"{item.name}: {item.expected[:19]} is missing")
        elif item.tag_digest != item.expected:
            now = item.tag_digest[:19] or "nothing"
            problems.append(f"{item.name}: tag points to {now}, the bundle has {item.expected[:19]}")
    if not held:
        return _registry(name, Status.SKIP, f"no {kind} to look for")
    if problems:
        shown = "; ".join(problems[:6]) + (f"; and {len(problems) - 6} more" if len(problems) > 6 else "")
        return _registry(
            name,
            Status.FAIL,
            f"{len(problems)} of {len(held)} differ from the bundle: {shown}",
            "someone pushed over the mirror: run `greenzone sync` to restore the bundle's content, "
            "and find out who changed the registry",
        )
    return _registry(name, Status.PASS, f"all {len(held)} match the bundle's digests")

"""Version order for what a bundle carries (pure): k3s releases, chart versions, the product.

k3s's rules are upstream's (docs.k3s.io/upgrades/manual): the Kubernetes version skew policy
applies, so an upgrade "does not skip intermediate minor versions", and servers go first, one at a
time, then agents. Kubernetes has no downgrade path for its datastore or API objects, so a bundle
with an older k3s is refused rather than tried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_VERSION = re.compile(r"^v?(\d+(?:\.\d+)*)(?:-([0-9A-Za-z.-]+))?(?:\+([0-9A-Za-z.-]+))?$")


@dataclass(frozen=True, order=True)
class Version:
    numbers: tuple[int, ...]
    release: int
    """1 for a release, 0 for a pre-release (`1.2.0-rc.1` comes before `1.2.0`), as SemVer orders them."""
    pre: tuple[tuple[int, int, str], ...]
    build: int
    """k3s's `+k3sN` revision: v1.35.9+k3s2 rebuilds v1.35.9+k3s1 and comes after it."""

    @property
    def minor(self) -> tuple[int, int]:
        major, minor = (*self.numbers, 0, 0)[:2]
        return major, minor


def parse_version(text: str) -> Version | None:
    """`v1.35.9+k3s1`, `1.19.1`, `v26.7.0`, `0.2.0-rc.1`; None for anything else (a digest, `files`)."""
    found = _VERSION.match(text.strip())
    if found is None:
        return None
    numbers = tuple(int(part) for part in found.group(1).split("."))
    # SemVer: numeric identifiers sort before alphanumeric ones, each kind in its own order.
    parts = (found.group(2) or "").split(".")
    pre = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in parts if part)
    revision = re.search(r"(\d+)$", found.group(3) or "")
    return Version(numbers, 0 if pre else 1, pre, int(revision.group(1)) if revision else 0)


def compare(old: str, new: str) -> int | None:
    """-1 when `new` is older, 0 when the same, 1 when newer; None when either has no order."""
    before, after = parse_version(old), parse_version(new)
    if before is None or after is None:
        return None if old != new else 0
    return (after > before) - (after < before)


def k3s_refusal(old: str, new: str) -> tuple[str, str] | None:
    """(why, fix) when k3s cannot go from `old` to `new` in one step; None when it can."""
    before, after = parse_version(old), parse_version(new)
    if before is None or after is None:
        return f"cannot order the k3s versions {old!r} and {new!r}", "use bundles built by `greenzone bundle build`"
    if after < before:
        return (
            f"the bundle's k3s {new} is older than the installed {old}: Kubernetes cannot be downgraded",
            f"use a bundle with k3s {old} or newer",
        )
    (major, minor), (new_major, new_minor) = before.minor, after.minor
    if new_major != major or new_minor > minor + 1:
        step = f"v{major}.{minor + 1}"
        return (
            f"k3s {old} to {new} skips a minor version; the Kubernetes version skew policy allows one minor at a "
            "time (docs.k3s.io/upgrades/manual)",
            f"upgrade with a bundle carrying k3s {step}.x first, then this one",
        )
    return None

"""The parity diff: does the cloud copy run what the appliance runs? (pure)

Three questions per release, each one check: the same chart at the same version; the same digest in
every container of every workload; the same values once the differences the target declares in its
overlay (storage class, node selectors, no hostPath) are taken out of both sides. A difference the
overlay declares is expected and never counts; anything else is drift.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator, Mapping
from typing import Any

from greenzone.redact import MASK, is_secret_key
from greenzone.results import Check, Status, verdict
from greenzone.sync.views import Container, ReleaseView, SideView

KeyPath = tuple[str, ...]
_SHOWN = 6
"""Differences named in one check's detail; the JSON data carries them all."""

_chart = functools.partial(verdict, group="charts")
_images = functools.partial(verdict, group="images")
_values = functools.partial(verdict, group="values")


def overlay_paths(overlay: Mapping[str, Any], prefix: KeyPath = ()) -> Iterator[KeyPath]:
    """The key paths an overlay sets: leaves, and lists as a whole (Helm replaces lists)."""
    for key, value in overlay.items():
        path = (*prefix, str(key))
        if isinstance(value, Mapping) and value:
            yield from overlay_paths(value, path)
        else:
            yield path


def without(values: Mapping[str, Any], paths: list[KeyPath]) -> dict[str, Any]:
    """A copy of `values` with each path removed. Where a path runs through a value that is not a
    mapping, the overlay replaced that value as a whole, so it goes."""
    out = copy.deepcopy(dict(values))
    for path in paths:
        trail: list[tuple[dict[str, Any], str]] = []
        node: Any = out
        for key in path:
            if not isinstance(node, dict):
                break  # the overlay replaced this non-mapping value: remove it where it hangs
            if key not in node:
                trail = []
                break
            trail.append((node, key))
            node = node[key]
        if not trail:
            continue
        parent, key = trail[-1]
        del parent[key]
    return out


def value_differences(left: Any, right: Any, path: KeyPath = ()) -> Iterator[tuple[KeyPath, Any, Any]]:
    """Leaf-level differences. An absent key and an empty mapping mean the same to a chart (nothing
    set), so a mapping the overlay emptied, or added, compares by its leaves."""
    if left is _ABSENT and isinstance(right, Mapping):
        left = {}
    if right is _ABSENT and isinstance(left, Mapping):
        right = {}
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        for key in sorted(set(left) | set(right), key=str):
            yield from value_differences(left.get(key, _ABSENT), right.get(key, _ABSENT), (*path, str(key)))
    elif left != right:
        yield path, left, right


class _Absent:
    def __repr__(self) -> str:
        return "(absent)"


_ABSENT = _Absent()


def shown_value(path: KeyPath, value: Any) -> str:
    if value is _ABSENT:
        return "(absent)"
    if any(is_secret_key(key) for key in path):
        return MASK
    text = repr(value) if not isinstance(value, (Mapping, list)) else f"{type(value).__name__} of {len(value)}"
    return text if len(text) <= 60 else text[:57] + "..."


def _listed(items: list[str]) -> str:
    more = f"; and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return "; ".join(items[:_SHOWN]) + more


def compare_values(
    onprem: ReleaseView, cloud: ReleaseView, overlay: Mapping[str, Any]
) -> tuple[Check, list[dict[str, Any]]]:
    declared = list(overlay_paths(overlay))
    raw = list(value_differences(onprem.values, cloud.values))
    drift = list(value_differences(without(onprem.values, declared), without(cloud.values, declared)))
    expected = len(raw) - len(drift)
    rows = [
        {"key": ".".join(path), "on_prem": shown_value(path, a), "cloud": shown_value(path, b)} for path, a, b in drift
    ]
    name = f"{onprem.name}: values"
    note = f"; {expected} differ as the overlay declares" if expected else ""
    if not drift:
        return _values(name, Status.PASS, f"same values{note}"), rows
    listed = _listed([f"{row['key']}: on-prem {row['on_prem']}, cloud {row['cloud']}" for row in rows])
    return (
        _values(
            name,
            Status.FAIL,
            f"{len(drift)} undeclared difference(s): {listed}{note}",
            "set the cloud's values through the target's values overlay (then re-run `greenzone sync`), "
            "or declare the difference there if it is intended",
        ),
        rows,
    )


def compare_chart(onprem: ReleaseView, cloud: ReleaseView) -> Check:
    name = f"{onprem.name}: chart"
    here, there = f"{onprem.chart} {onprem.version}", f"{cloud.chart} {cloud.version}"
    if here == there:
        return _chart(name, Status.PASS, f"{here} on both")
    return _chart(
        name,
        Status.FAIL,
        f"on-prem runs {here}, cloud runs {there}",
        "run `greenzone sync` from the bundle the appliance was installed from",
    )


def _key(item: Container) -> tuple[str, str]:
    return item.workload, item.container


def compare_images(onprem: ReleaseView, cloud: ReleaseView) -> tuple[Check, list[dict[str, str]]]:
    name = f"{onprem.name}: image digests"
    left = {_key(item): item for item in onprem.containers}
    right = {_key(item): item for item in cloud.containers}
    rows: list[dict[str, str]] = []
    unknown = 0
    for key in sorted(set(left) | set(right)):
        a, b = left.get(key), right.get(key)
        where = f"{key[0]} [{key[1]}]"
        if a is None or b is None:
            side = "cloud" if a is None else "on-prem"
            rows.append({"container": where, "problem": f"runs only on {side}", "on_prem": "", "cloud": ""})
        elif not a.digest or not b.digest:
            unknown += 1
        elif a.digest != b.digest:
            problem = "different digest" if a.ref == b.ref else f"different image ({a.ref} / {b.ref})"
            rows.append({"container": where, "problem": problem, "on_prem": a.digest, "cloud": b.digest})
    total = len(set(left) | set(right))
    if rows:
        listed = _listed([f"{row['container']}: {row['problem']}" for row in rows])
        return (
            _images(
                name,
                Status.FAIL,
                f"{len(rows)} of {total} containers differ: {listed}",
                "run `greenzone sync` again; if it still differs, someone changed the cloud release by hand",
            ),
            rows,
        )
    if unknown:
        return (
            _images(
                name,
                Status.WARN,
                f"{unknown} of {total} containers run a digest that cannot be read (pods not started, or an image "
                "the bundle does not hold)",
                "wait for the pods to start, or compare rendered manifests",
            ),
            rows,
        )
    if not total:
        return _images(name, Status.PASS, "runs no containers on either side"), rows
    return _images(name, Status.PASS, f"{total} containers run the same digests"), rows


def compare(
    onprem: SideView, cloud: SideView, overlay: Mapping[str, Mapping[str, Any]]
) -> tuple[list[Check], dict[str, Any]]:
    """Every release of both sides, judged; the data holds every difference, not only those shown."""
    checks: list[Check] = []
    data: dict[str, Any] = {"on_prem": onprem.source, "cloud": cloud.source, "releases": {}}
    for release in sorted(set(onprem.releases) | set(cloud.releases)):
        a, b = onprem.releases.get(release), cloud.releases.get(release)
        if a is None or b is None:
            missing = "cloud" if b is None else "on-prem"
            checks.append(
                _chart(
                    f"{release}: chart",
                    Status.FAIL,
                    f"release {release} is not installed on the {missing} side",
                    "run `greenzone sync`"
                    if missing == "cloud"
                    else "check the appliance's install (`greenzone health`)",
                )
            )
            data["releases"][release] = {"missing_on": missing}
            continue
        images, image_rows = compare_images(a, b)
        values, value_rows = compare_values(a, b, overlay.get(release) or {})
        checks.extend([compare_chart(a, b), images, values])
        data["releases"][release] = {
            "chart": {"on_prem": f"{a.chart} {a.version}", "cloud": f"{b.chart} {b.version}"},
            "image_differences": image_rows,
            "value_differences": value_rows,
        }
    return checks, data

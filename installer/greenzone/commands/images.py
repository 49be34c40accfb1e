"""`greenzone bundle images`: render every chart with the appliance's values and list the images it runs.

The lists under `images/` are this command's output for the examples; the test suite re-renders our
charts and fails when one needs an image the lockfile does not pin, so a chart change cannot ship a
bundle that leaves a pod in ImagePullBackOff on site.
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from greenzone.answers.files import load_valid_answers
from greenzone.atomic import write_text_atomic
from greenzone.bundle.lock import Lock
from greenzone.cluster.helm import render
from greenzone.commands.bundle import read_lock
from greenzone.images import images_of, judge
from greenzone.results import Check, Report, Status
from greenzone.values.releases import Release, appliance_releases


def chart_source(release: Release, lock: Lock, lock_file: Path, search: list[Path]) -> Path | None:
    """Our charts from the checkout the lock points at; any chart from `--charts` directories holding
    either `<name>/Chart.yaml` or the bundle's `<name>-<version>.tgz`."""
    locked = {chart.name: chart for chart in lock.charts}
    chart = locked.get(release.chart)
    if chart is not None and chart.path is not None:
        source = lock_file.resolve().parent.parent / chart.path
        if (source / "Chart.yaml").is_file():
            return source
    for directory in search:
        if (directory / release.chart / "Chart.yaml").is_file():
            return directory / release.chart
        if chart is not None and (directory / f"{release.chart}-{chart.version}.tgz").is_file():
            return directory / f"{release.chart}-{chart.version}.tgz"
    return None


def list_text(component: str, refs: list[str], sources: list[str]) -> str:
    return (
        f"# Images of `{component}`, rendered by `greenzone bundle images` with the values of:\n"
        + "".join(f"#   {source}\n" for source in sources)
        + "# Every one must be pinned in airgap/bundle.lock.yaml (a test checks it).\n"
        + "".join(f"{ref}\n" for ref in refs)
    )


def bundle_images(args: argparse.Namespace) -> Report:
    _, validation = read_lock(args.lock)
    assert validation.lock is not None
    lock = validation.lock
    found: dict[str, set[str]] = defaultdict(set)
    missing_charts: dict[str, str] = {}
    sources = [path.as_posix() for path in args.answers]
    for answers_file in args.answers:
        answers = load_valid_answers(answers_file)
        for release in appliance_releases(answers):
            chart = chart_source(release, lock, args.lock, args.charts or [])
            if chart is None:
                missing_charts[release.component] = release.chart
                continue
            objects = render(chart, release.name, release.namespace, release.values, helm=args.helm)
            found[release.component].update(images_of(objects))
    checks: list[Check] = []
    pinned = [image.ref for image in lock.images]
    for component, refs in found.items():
        checks.extend(judge(component, refs, pinned))
        if args.write is not None:
            write_text_atomic(args.write / f"{component}.txt", list_text(component, sorted(refs), sources))
    for component, chart_name in missing_charts.items():
        if component in found:
            continue
        checks.append(
            Check(
                f"{component}: rendered",
                Status.WARN,
                f"chart {chart_name} is not available here, so its images were not listed",
                "pass --charts DIR with DIR/<chart>/ or the bundle's charts/ (<chart>-<version>.tgz)",
                group="images",
            )
        )
    return Report(
        command="bundle images",
        checks=tuple(checks),
        data={"images": {component: sorted(refs) for component, refs in sorted(found.items())}},
        title="Images the charts run",
    )

"""Registry-layer verdicts: Harbor answers, says it is healthy, and holds every image of the bundle."""

from __future__ import annotations

import functools
from collections.abc import Iterator

from greenzone.health.observed import Http, RegistryView
from greenzone.health.targets import Targets
from greenzone.results import Check, Status, verdict

LAYER = "registry"
_check = functools.partial(verdict, group=LAYER)
SLOW_SECONDS = 2.0
"""An answer slower than this from a registry on the local network means it is overloaded or its disk is."""
SHOWN = 5
REMEDY_DOWN = "`kubectl -n harbor get pods`; Harbor's nginx, core and registry pods must be Running"


def _api(http: Http) -> Check:
    if not http.answered:
        return _check("registry API", Status.FAIL, f"{http.url}: {http.error}", REMEDY_DOWN)
    if http.status not in (200, 401):
        return _check(
            "registry API",
            Status.FAIL,
            f"{http.url} answered HTTP {http.status}, expected 200 or 401 (the OCI distribution API)",
            "check that the address is Harbor's and its registry pod's log",
        )
    if http.seconds > SLOW_SECONDS:
        return _check(
            "registry API",
            Status.WARN,
            f"answered in {http.seconds:.1f} s (slower than {SLOW_SECONDS:.0f} s)",
            "check the registry's disk (`df`, `iostat`) and Harbor's pod resources",
        )
    return _check("registry API", Status.PASS, f"{http.url} {http.outcome()}")


def _harbor(http: Http) -> Check:
    if not http.answered:
        return _check("Harbor health", Status.FAIL, f"{http.url}: {http.error}", REMEDY_DOWN)
    if http.status == 404:
        return _check(
            "Harbor health",
            Status.FAIL,
            f"{http.url} answered 404: this registry does not serve Harbor's API",
            "check the registry address (registry.hostname, or --endpoint registry=URL)",
        )
    body = http.body if isinstance(http.body, dict) else {}
    components = body.get("components") or []
    sick = [
        f"{item.get('name')}: {item.get('error') or item.get('status')}"
        for item in components
        if isinstance(item, dict) and item.get("status") != "healthy"
    ]
    if http.status != 200 or body.get("status") != "healthy" or sick:
        return _check(
            "Harbor health",
            Status.FAIL,
            f"{body.get('status', f'HTTP {http.status}')}" + (f": {'; '.join(sick)}" if sick else ""),
            "`kubectl -n harbor get pods` and the named component's log (database and redis first)",
        )
    return _check("Harbor health", Status.PASS, f"healthy ({len(components)} components)")


def _listed(items: list[str]) -> str:
    more = f" and {len(items) - SHOWN} more" if len(items) > SHOWN else ""
    return ", ".join(items[:SHOWN]) + more


def registry_checks(view: RegistryView, targets: Targets) -> Iterator[Check]:
    api = _api(view.api)
    yield api
    yield _harbor(view.harbor_health)
    if api.status == Status.FAIL:
        yield _check("images", Status.SKIP, "the registry API did not answer")
        return
    if view.projects:
        missing = sorted(name for name, found in view.projects.items() if found is False)
        unknown = sorted(name for name, found in view.projects.items() if found is None)
        if missing:
            yield _check(
                "Harbor projects",
                Status.FAIL,
                f"missing: {_listed(missing)}",
                "re-run `greenzone deploy --phase registry`; it creates the projects and pushes the images",
            )
        elif unknown:
            yield _check(
                "Harbor projects", Status.WARN, f"could not ask for {_listed(unknown)}", "check the admin credentials"
            )
        else:
            yield _check(
                "Harbor projects", Status.PASS, f"{len(view.projects)} present: {_listed(sorted(view.projects))}"
            )
    if not targets.images:
        yield _check(
            "images",
            Status.SKIP,
            "no bundle manifest in the state directory to list the expected images",
            "run health with --bundle DIR, or re-run the install (it records the manifest)",
        )
        return
    missing = [image.ref for image in view.images if image.present is False]
    errors = [f"{image.ref}: {image.error}" for image in view.images if image.present is None]
    if missing:
        yield _check(
            "images",
            Status.FAIL,
            f"{len(missing)} of {len(targets.images)} missing by digest: {_listed(missing)}",
            "re-run `greenzone deploy --phase registry` with the bundle attached; pods cannot pull what is missing",
        )
    elif errors:
        yield _check("images", Status.WARN, f"could not check {len(errors)}: {_listed(errors)}", REMEDY_DOWN)
    else:
        yield _check("images", Status.PASS, f"all {len(view.images)} present by digest")

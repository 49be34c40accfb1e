"""One health run: every reader in its own thread, all under one budget, then the pure verdicts.

A reader still busy when the budget is spent is abandoned (its thread is a daemon, and each of its
calls has a timeout of its own) and its layer is reported as not answering in time, so a wedged
driver or a black-holed address costs the budget and nothing more.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from greenzone.health.cluster_checks import cluster_checks
from greenzone.health.host_checks import host_checks
from greenzone.health.inference_checks import inference_checks
from greenzone.health.observed import CertView, ClusterView, HostView, InferenceView, RegistryView
from greenzone.health.readers.deadline import Deadline
from greenzone.health.registry_checks import registry_checks
from greenzone.health.signatures import clock_checks, crash_checks, image_pull_checks
from greenzone.health.targets import Targets
from greenzone.health.zone_checks import zone_checks
from greenzone.results import Check, Report, Status

log = logging.getLogger(__name__)
T = TypeVar("T")
LAYERS = ("host", "cluster", "registry", "inference", "green zone")
DEFAULT_BUDGET = 10.0
READER_RESERVE = 0.5


class _Job(Generic[T]):
    def __init__(self, name: str, work: Callable[[], T]) -> None:
        self.name = name
        self.value: T | None = None
        self.error: BaseException | None = None
        self.seconds = 0.0
        self._done = threading.Event()
        self._work = work
        self._thread = threading.Thread(target=self._run, name=f"health-{name}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        try:
            self.value = self._work()
        except BaseException as error:  # reported as a failed layer; the traceback goes to the log
            log.exception("health reader %s failed", self.name)
            self.error = error
        finally:
            self.seconds = time.monotonic() - started
            self._done.set()

    def wait(self, deadline: Deadline) -> T | None:
        self._done.wait(deadline.remaining())
        return self.value if self._done.is_set() else None

    @property
    def done(self) -> bool:
        return self._done.is_set()


@dataclass(frozen=True)
class Views:
    """What the readers saw, per layer; a layer whose reader did not finish or crashed has the check
    that stands in for it in `missing` instead."""

    host: HostView | None = None
    cluster: ClusterView | None = None
    registry: RegistryView | None = None
    inference: InferenceView | None = None
    certs: tuple[CertView, ...] = ()
    missing: Mapping[str, Check] = field(default_factory=dict)


@dataclass(frozen=True)
class HealthRun:
    report: Report
    seconds: float
    layer_seconds: dict[str, float]
    latencies: dict[tuple[str, str], float]
    views: Views = field(default_factory=Views)


def _late(layer: str, job: _Job[Any] | None, budget: float) -> Check | None:
    """The check that stands in for a layer whose reader did not finish or crashed."""
    if job is None:
        return None
    if not job.done:
        return Check(
            layer,
            Status.FAIL,
            f"no answer within the {budget:g} s budget (its reader is still waiting)",
            "a hung driver or an address that drops packets: run `greenzone health --layer "
            f"'{layer}' --budget 60 --debug` to see which call hangs",
            layer,
        )
    if job.error is not None:
        return Check(
            layer,
            Status.FAIL,
            f"the {layer} reader failed: {type(job.error).__name__}: {job.error}",
            "this is a bug in greenzone; the traceback is in the log",
            layer,
        )
    return None


def _certs(targets: Targets, cluster_server: str | None, deadline: Deadline) -> list[CertView]:
    from greenzone.health.readers.tls import file_cert, served_cert

    found = [file_cert("appliance CA", targets.ca_file)] if targets.ca_file.exists() else []
    for name, url in (("registry", targets.registry_url), ("chat UI", targets.chat_url), ("k3s API", cluster_server)):
        if url:
            served = served_cert(name, url, deadline)
            if served is not None:
                found.append(served)
    return found


def _kube_server(targets: Targets) -> str | None:
    if targets.kube_server:
        return targets.kube_server
    if not targets.kubeconfig.is_file():
        return None
    from greenzone.health.readers.cluster import kube_server

    try:
        return kube_server(targets.kubeconfig)
    except Exception:  # an unusable kubeconfig is the cluster layer's finding, not the certificate's
        return None


def run_health(
    targets: Targets,
    *,
    budget: float = DEFAULT_BUDGET,
    layers: Sequence[str] = LAYERS,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
) -> HealthRun:
    from greenzone.health.readers.cluster import read_cluster
    from greenzone.health.readers.host import read_host_view
    from greenzone.health.readers.inference import read_inference
    from greenzone.health.readers.registry import read_registry

    started = time.monotonic()
    # Readers time out a little before the run gives up on them, so a dead layer reports its own
    # cause ("no answer within 1.5 s") instead of only "did not finish".
    deadline = Deadline(max(budget - READER_RESERVE, budget / 2))
    whole = Deadline(budget, deadline.start)
    wanted = set(layers)
    host = _Job("host", lambda: read_host_view(targets)) if "host" in wanted and targets.local_node else None
    needs_cluster = bool(wanted & {"cluster", "green zone"}) or (
        "inference" in wanted and not targets.inference_url and not targets.gateway_url
    )
    cluster = _Job("cluster", lambda: read_cluster(targets, deadline)) if needs_cluster else None
    registry = _Job("registry", lambda: read_registry(targets, deadline)) if "registry" in wanted else None
    certs = (
        _Job("certificates", lambda: _certs(targets, _kube_server(targets), deadline))
        if "green zone" in wanted
        else None
    )

    def inference_work() -> InferenceView:
        view = None
        if cluster is not None and not targets.inference_url and not targets.gateway_url:
            view = cluster.wait(deadline)
            if view is None:
                return InferenceView(error="the cluster did not answer in time to find the engine's address")
        return read_inference(targets, view, deadline)

    inference = _Job("inference", inference_work) if "inference" in wanted else None
    jobs: list[_Job[Any]] = [job for job in (host, cluster, registry, certs, inference) if job is not None]
    for job in jobs:
        job.wait(whole)

    missing: dict[str, Check] = {}
    layer_jobs: tuple[tuple[str, _Job[Any] | None], ...] = (
        ("host", host),
        ("cluster", cluster),
        ("registry", registry),
        ("inference", inference),
    )
    for name, layer_job in layer_jobs:
        late = _late(name, layer_job, budget) if name in wanted else None
        if late is not None:
            missing[name] = late
    zone_late = _late("green zone", cluster, budget) or _late("green zone", certs, budget)
    if "green zone" in wanted and zone_late is not None:
        missing["green zone"] = zone_late
    views = Views(
        host=host.value if host else None,
        cluster=cluster.value if cluster else None,
        registry=registry.value if registry else None,
        inference=inference.value if inference else None,
        certs=tuple(certs.value) if certs and certs.value else (),
        missing=missing,
    )
    checks = judge(views, targets, tuple(layer for layer in LAYERS if layer in wanted), now())
    host_view = views.host

    seconds = time.monotonic() - started
    layer_seconds = {job.name: round(job.seconds if job.done else budget, 3) for job in jobs}
    latencies: dict[tuple[str, str], float] = {
        (answer.model, str(answer.api)): answer.http.seconds
        for answer in (inference.value.answers if inference and inference.value else ())
        if answer.http.ok
    }
    data: dict[str, Any] = {"budget_seconds": budget, "seconds": round(seconds, 3), "layer_seconds": layer_seconds}
    if host_view is not None:
        data["facts"] = {"nvml": dataclasses.asdict(host_view.nvml)}
    report = Report("health", tuple(checks), data, title="", grouped=True)
    return HealthRun(report, seconds, layer_seconds, latencies, views)


def judge(views: Views, targets: Targets, layers: Sequence[str], now: datetime.datetime) -> list[Check]:
    """The verdicts on what the readers saw, layer by layer (pure): the same on a live run and on the
    views a support bundle recorded, so the vendor's analysis says what `health` said at the site."""
    checks: list[Check] = []

    def layer(name: str, verdicts: Callable[[], Iterable[Check]]) -> None:
        if name in layers:
            checks.extend([views.missing[name]] if name in views.missing else verdicts())

    nvml = views.host.nvml if views.host else None
    layer("host", lambda: host_checks(views.host, targets))
    layer(
        "cluster",
        lambda: [*cluster_checks(_answered(views.cluster), targets, nvml, now), *_signatures(views, targets, now)],
    )
    layer("registry", lambda: registry_checks(_answered(views.registry), targets))
    layer("inference", lambda: inference_checks(_answered(views.inference), targets))
    layer("green zone", lambda: zone_checks(views.cluster, list(views.certs), targets, now))
    return checks


def _signatures(views: Views, targets: Targets, now: datetime.datetime) -> Iterable[Check]:
    cluster = views.cluster
    if cluster is None or cluster.error:
        return ()
    return [
        *image_pull_checks(cluster, views.registry),
        *crash_checks(cluster, targets),
        *clock_checks(cluster.nodes, now),
    ]


def _answered(view: T | None) -> T:
    assert view is not None, "a layer without a view is in `missing`"
    return view

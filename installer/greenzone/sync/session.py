"""The cloud copy's two flows, front door for `greenzone sync` and `greenzone parity`.

Sync works from the signed bundle and the appliance's answers, never from the appliance itself: the
customer's data stays on site, only charts, images, values and synthetic prompts leave. Every step
skips what the cloud already holds, so an interrupted sync is resumed by running it again. The
commands only turn options into a request; what each step concluded is worded in sync/verdicts.py.
"""

from __future__ import annotations

import dataclasses
import datetime
from pathlib import Path

from greenzone import yamlpos
from greenzone.answers.files import load_valid_answers
from greenzone.answers.model import Answers
from greenzone.atomic import scratch_directory, write_text_atomic
from greenzone.bundle.manifest import Manifest, read_bundle_manifest
from greenzone.bundle.sign import load_public_key
from greenzone.bundle.verify import read_signed_manifest, signature_check
from greenzone.cluster.helm import find_helm
from greenzone.errors import InputError
from greenzone.progress import byte_progress
from greenzone.refs import qualify
from greenzone.results import Check, Report, Status
from greenzone.sync import verdicts
from greenzone.sync.render import Rendered
from greenzone.sync.target import Target, load_target
from greenzone.sync.views import SideView


@dataclasses.dataclass(frozen=True)
class Request:
    """What both flows are about: the target, the appliance's answers and its bundle."""

    target: Path
    answers: Path | None = None
    bundle: Path | None = None
    helm: Path | None = None


@dataclasses.dataclass(frozen=True)
class Sources:
    target: Target
    answers: Answers
    bundle: Path
    manifest: Manifest


def _sources(request: Request) -> Sources:
    target = load_target(request.target)
    answers_file = request.answers or target.answers_file
    if answers_file is None:
        raise InputError(
            f"{request.target} is a target file, so the appliance's answers are needed too",
            hint="pass --answers FILE (the file the appliance was installed with)",
        )
    answers = load_valid_answers(answers_file)
    bundle = request.bundle or answers.bundle.path
    _, manifest = read_bundle_manifest(bundle)
    return Sources(target, answers, bundle, manifest)


def _signed(sources: Sources, key: Path | None) -> Check:
    """The cloud copy is only as trustworthy as the bundle: its manifest must carry the vendor's signature."""
    public_key = key or sources.answers.bundle.public_key
    raw, _ = read_signed_manifest(sources.bundle)
    check = signature_check(sources.bundle, raw, load_public_key(public_key), public_key)
    if check.status is Status.FAIL:
        raise InputError(f"refusing to sync: {check.detail}", hint=check.remedy)
    return check


def sync(request: Request, *, key: Path | None, render_only: Path | None, timeout: str) -> Report:
    from greenzone.sync.gitops import write_rendered
    from greenzone.sync.mirror import host_path_workloads
    from greenzone.sync.push import bundle_charts, cloud_client, layout_bytes, push_charts, push_images
    from greenzone.sync.render import render_side

    sources = _sources(request)
    target, cloud = sources.target, sources.target.cloud
    checks = [dataclasses.replace(_signed(sources, key), group="bundle")]
    helm = find_helm(request.helm)
    rendered = render_side(
        sources.answers,
        sources.bundle,
        sources.manifest,
        overlay=target.overlay,
        registry=target.registry,
        helm=helm,
        include_crds=render_only is not None,
    )
    registry = cloud_client(target.registry, cloud.credentials_file, cloud.ca_file)
    charts = push_charts(
        bundle_charts(sources.bundle, sources.manifest),
        registry,
        target.registry,
        helm=helm,
        credentials_file=cloud.credentials_file,
        ca_file=cloud.ca_file,
    )
    checks.append(verdicts.charts_pushed(charts.pushed, charts.present, target.registry.chart_oci()))
    with byte_progress(f"images to {cloud.registry}", layout_bytes(sources.bundle)) as meter:
        images = push_images(sources.bundle, registry, target.registry, progress=meter.advance)
    checks.append(verdicts.images_pushed(len(images.images), images.uploaded, images.mounted, images.skipped))
    ready = []
    for item in rendered:
        pinned_to_nodes = host_path_workloads(item.objects) if item.release.ours else []
        if pinned_to_nodes:
            checks.append(verdicts.host_path_warning(item.release.name, pinned_to_nodes))
        if item.missing:
            checks.append(verdicts.images_not_in_bundle(item.release.name, item.missing))
        else:
            ready.append(item)
    data: dict[str, object] = {"charts": dataclasses.asdict(charts), "images": dataclasses.asdict(images)}
    if render_only is not None:
        changed = write_rendered(render_only, ready, target.registry)
        data["written"] = changed
        checks.append(verdicts.rendered_written(len(ready), str(render_only), changed))
    else:
        checks.extend(_install(ready, helm, cloud.kubeconfig, cloud.context, timeout))
    return Report(
        command="sync", checks=tuple(checks), data=data, title=f"Cloud copy in {cloud.registry}", grouped=True
    )


def _install(ready: list[Rendered], helm: Path, kubeconfig: Path, context: str, timeout: str) -> list[Check]:
    from pyhelm3.errors import Error as HelmError

    from greenzone.sync.install import install_rendered

    if not kubeconfig.is_file():
        raise InputError(
            f"the target's kubeconfig {kubeconfig} does not exist",
            hint="fix `kubeconfig` in the target, or write the manifests for GitOps with --render-only DIR",
        )
    from greenzone.cluster.kube import check_api_answers

    check_api_answers(kubeconfig, context, "cloud")
    checks = []
    with scratch_directory("greenzone-sync-") as work:
        for item in ready:
            try:
                done = install_rendered(helm, kubeconfig, context, item, work, timeout)
            except HelmError as error:
                message = (str(error).strip().splitlines() or [type(error).__name__])[-1]
                checks.append(verdicts.release_failed(item.release.name, context, message))
                continue
            checks.append(verdicts.release_installed(item.release.name, done.action, done.reason))
    return checks


@dataclasses.dataclass(frozen=True)
class ParityOptions:
    onprem_kubeconfig: Path | None = None
    onprem_context: str | None = None
    cloud_rendered: Path | None = None
    onprem_endpoint: str | None = None
    onprem_ca: Path | None = None
    onprem_key_env: str | None = None
    cloud_endpoint: str | None = None
    cloud_key_env: str | None = None
    prompts: Path | None = None
    report: Path | None = None
    registry: bool = True


def parity(request: Request, options: ParityOptions) -> Report:
    from greenzone.sync.parity import compare
    from greenzone.sync.render import render_side, side_view

    sources = _sources(request)
    target = sources.target
    registry = target.registry
    if options.onprem_kubeconfig:
        from greenzone.sync.live import read_live

        onprem = read_live("on-prem", options.onprem_kubeconfig, options.onprem_context, qualify)
    else:
        rendered = render_side(sources.answers, sources.bundle, sources.manifest, helm=request.helm)
        onprem = side_view(
            "on-prem", f"rendered from {sources.bundle} with the answers' values", rendered, sources.manifest, None
        )
    if options.cloud_rendered:
        from greenzone.sync.gitops import read_rendered

        cloud_side = read_rendered(options.cloud_rendered)
    else:
        from greenzone.sync.live import read_live

        cloud_side = read_live("cloud", target.cloud.kubeconfig, target.cloud.context, registry.upstream)
    checks, data = compare(onprem, cloud_side, target.overlay)
    if options.registry:
        checks.extend(_registry_checks(sources))
    probe_checks, latency = _probes(options, sources, same_engine=_engine(onprem) == _engine(cloud_side))
    checks.extend(probe_checks)
    data["latency"] = latency
    report = Report(
        command="parity",
        checks=tuple(checks),
        data=data,
        title=f"Parity of {sources.answers.appliance.name} and its cloud copy",
        grouped=True,
    )
    if options.report:
        from greenzone.sync.markdown import parity_markdown

        generated = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        write_text_atomic(options.report, parity_markdown(report, generated=generated))
    return report


def _registry_checks(sources: Sources) -> list[Check]:
    from greenzone.sync.push import bundle_charts, chart_held, cloud_client, image_held
    from greenzone.sync.registry_checks import judge_held

    target, cloud = sources.target, sources.target.cloud
    registry = cloud_client(target.registry, cloud.credentials_file, cloud.ca_file)
    charts = [chart_held(registry, target.registry, chart) for chart in bundle_charts(sources.bundle, sources.manifest)]
    images = [image_held(registry, target.registry, image.ref, image.digest) for image in sources.manifest.images]
    return [judge_held("charts", charts, cloud.registry), judge_held("images", images, cloud.registry)]


def _engine(side: SideView) -> object:
    release = side.releases.get("greenzone-inference")
    return release.values.get("engine") if release else None


def _key_from_env(name: str | None, option: str) -> str | None:
    """A gateway key from the environment variable `name` (never from the command line, where every
    user of the machine could read it), registered with the log redactor."""
    import os

    from greenzone.errors import InputError
    from greenzone.redact import REDACTOR

    if not name:
        return None
    value = os.environ.get(name, "").strip()
    if not value:
        raise InputError(f"{option} names ${name}, which is not set", hint=f"export {name}=<the gateway key> first")
    REDACTOR.register(value)
    return value


def _probes(
    options: ParityOptions, sources: Sources, *, same_engine: bool
) -> tuple[list[Check], dict[str, dict[str, object]]]:
    from greenzone.sync.probe_client import ask_all
    from greenzone.sync.probes import SYNTHETIC_PROMPTS, judge_probes, latency_summary

    cloud_url = options.cloud_endpoint or sources.target.cloud.inference_url
    if not options.onprem_endpoint or not cloud_url:
        missing = (
            "--onprem-endpoint" if not options.onprem_endpoint else "the target's inference_url (or --cloud-endpoint)"
        )
        return [verdicts.probes_not_run(missing)], {}
    prompts = _prompts(options.prompts) if options.prompts else list(SYNTHETIC_PROMPTS)
    cloud_env = options.cloud_key_env or sources.target.cloud.inference_key_env
    onprem_key = _key_from_env(options.onprem_key_env, "--onprem-key-env")
    cloud_key = _key_from_env(
        cloud_env, "--cloud-key-env" if options.cloud_key_env else "the target's inference_key_env"
    )
    here_source = f"${options.onprem_key_env}" if options.onprem_key_env else "give one with --onprem-key-env VAR"
    there_source = f"${cloud_env}" if cloud_env else "give one with the target's inference_key_env"
    checks: list[Check] = []
    latency: dict[str, dict[str, object]] = {}
    for model in sources.answers.inference.models:
        here = ask_all(
            options.onprem_endpoint, model, prompts, ca_file=options.onprem_ca, key=onprem_key, key_source=here_source
        )
        there = ask_all(
            cloud_url, model, prompts, ca_file=sources.target.cloud.ca_file, key=cloud_key, key_source=there_source
        )
        checks.extend(judge_probes(model, here, there, same_engine=same_engine))
        latency[model] = {"on-prem": latency_summary(here), "cloud": latency_summary(there)}
    return checks, latency


def _prompts(path: Path) -> list[str]:
    from greenzone.textfiles import read_text

    loaded = yamlpos.data(read_text(path, "a YAML list of prompts", limit=1024 * 1024), str(path))
    if not isinstance(loaded, list) or not loaded or not all(isinstance(item, str) and item for item in loaded):
        raise InputError(
            f"{path} must be a YAML list of prompt strings",
            hint="one synthetic prompt per `- ` line; never customer data, the prompts go to the cloud",
        )
    return loaded

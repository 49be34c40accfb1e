"""`greenzone sync` and `greenzone parity`: the vendor's cloud copy of one appliance.

Sync works from the signed bundle and the appliance's answers, never from the appliance itself: the
customer's data stays on site, only charts, images, values and synthetic prompts leave. Every step
skips what the cloud already holds, so an interrupted sync is resumed by running it again.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import tempfile
from pathlib import Path

from greenzone.answers.files import load_valid_answers
from greenzone.answers.model import Answers
from greenzone.atomic import write_text_atomic
from greenzone.bundle.manifest import Manifest, read_bundle_manifest
from greenzone.bundle.sign import load_public_key
from greenzone.bundle.verify import read_signed_manifest, signature_check
from greenzone.cluster.helm import find_helm
from greenzone.errors import InputError
from greenzone.progress import byte_progress
from greenzone.refs import qualify
from greenzone.results import Check, Report, Status, verdict
from greenzone.sync.render import Rendered
from greenzone.sync.target import Target, load_target
from greenzone.sync.views import SideView


@dataclasses.dataclass(frozen=True)
class Sources:
    target: Target
    answers: Answers
    bundle: Path
    manifest: Manifest


def _sources(args: argparse.Namespace) -> Sources:
    target = load_target(args.target)
    answers_file = args.answers or target.answers_file
    if answers_file is None:
        raise InputError(
            f"{args.target} is a target file, so the appliance's answers are needed too",
            hint="pass --answers FILE (the file the appliance was installed with)",
        )
    answers = load_valid_answers(answers_file)
    bundle = Path(args.bundle) if args.bundle else answers.bundle.path
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


def sync(args: argparse.Namespace) -> Report:
    from greenzone.sync.gitops import write_rendered
    from greenzone.sync.mirror import host_path_workloads
    from greenzone.sync.push import bundle_charts, cloud_client, layout_bytes, push_charts, push_images
    from greenzone.sync.render import render_side

    sources = _sources(args)
    target, cloud = sources.target, sources.target.cloud
    checks = [dataclasses.replace(_signed(sources, args.key), group="bundle")]
    helm = find_helm(args.helm)
    rendered = render_side(
        sources.answers,
        sources.bundle,
        sources.manifest,
        overlay=target.overlay,
        registry=target.registry,
        helm=helm,
        include_crds=args.render_only is not None,
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
    checks.append(
        verdict(
            "charts pushed",
            Status.PASS,
            f"{len(charts.pushed)} pushed, {len(charts.present)} already in {target.registry.chart_oci()}",
            group="charts",
        )
    )
    with byte_progress(f"images to {cloud.registry}", layout_bytes(sources.bundle)) as meter:
        images = push_images(sources.bundle, registry, target.registry, progress=meter.advance)
    checks.append(
        verdict(
            "images pushed",
            Status.PASS,
            f"{len(images.images)} images, digests kept; {images.uploaded} blobs uploaded, "
            f"{images.mounted} mounted, {images.skipped} already there",
            group="images",
        )
    )
    ready = []
    for item in rendered:
        pinned_to_nodes = host_path_workloads(item.objects) if item.release.ours else []
        if pinned_to_nodes:
            checks.append(
                verdict(
                    f"{item.release.name}: no hostPath",
                    Status.WARN,
                    f"{', '.join(pinned_to_nodes)} mount node directories, which a managed cluster's "
                    "baseline Pod Security refuses",
                    "in the values overlay set modelStore.type: pvc and modelStore.bundleClaim to a PVC holding "
                    "the bundle's models/",
                    group="releases",
                )
            )
        if item.missing:
            checks.append(
                verdict(
                    f"{item.release.name}: images",
                    Status.FAIL,
                    f"runs images the bundle does not hold: {', '.join(item.missing)}",
                    "the values overlay must not change image references; add the images to the lock and rebuild",
                    group="releases",
                )
            )
        else:
            ready.append(item)
    data: dict[str, object] = {"charts": dataclasses.asdict(charts), "images": dataclasses.asdict(images)}
    if args.render_only is not None:
        changed = write_rendered(Path(args.render_only), ready, target.registry)
        data["written"] = changed
        checks.append(
            verdict(
                "rendered manifests",
                Status.PASS,
                f"{len(ready)} releases in {args.render_only}; "
                + (f"{len(changed)} files changed" if changed else "nothing changed"),
                group="releases",
            )
        )
    else:
        checks.extend(_install(ready, helm, cloud.kubeconfig, cloud.context, args.timeout))
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
    checks = []
    with tempfile.TemporaryDirectory(prefix="greenzone-sync-") as work:
        for item in ready:
            name = f"{item.release.name}: installed"
            try:
                done = install_rendered(helm, kubeconfig, context, item, Path(work), timeout)
            except HelmError as error:
                message = (str(error).strip().splitlines() or [type(error).__name__])[-1]
                checks.append(
                    verdict(
                        name,
                        Status.FAIL,
                        f"helm failed in context {context}: {message}",
                        "look at the release's pods in the cloud cluster; run sync again once fixed (it resumes)",
                        group="releases",
                    )
                )
                continue
            detail = "up to date" if done.action == "none" else f"{done.action}ed ({done.reason})"
            checks.append(verdict(name, Status.PASS, detail, group="releases"))
    return checks


def parity(args: argparse.Namespace) -> Report:
    from greenzone.sync.parity import compare
    from greenzone.sync.render import render_side, side_view

    sources = _sources(args)
    target = sources.target
    registry = target.registry
    if args.onprem_kubeconfig:
        from greenzone.sync.live import read_live

        onprem = read_live("on-prem", Path(args.onprem_kubeconfig), args.onprem_context, qualify)
    else:
        rendered = render_side(sources.answers, sources.bundle, sources.manifest, helm=args.helm)
        onprem = side_view(
            "on-prem", f"rendered from {sources.bundle} with the answers' values", rendered, sources.manifest, None
        )
    if args.cloud_rendered:
        from greenzone.sync.gitops import read_rendered

        cloud_side = read_rendered(Path(args.cloud_rendered))
    else:
        from greenzone.sync.live import read_live

        cloud_side = read_live("cloud", target.cloud.kubeconfig, target.cloud.context, registry.upstream)
    checks, data = compare(onprem, cloud_side, target.overlay)
    if not args.no_registry:
        checks.extend(_registry_checks(sources))
    probe_checks, latency = _probes(args, sources, same_engine=_engine(onprem) == _engine(cloud_side))
    checks.extend(probe_checks)
    data["latency"] = latency
    report = Report(
        command="parity",
        checks=tuple(checks),
        data=data,
        title=f"Parity of {sources.answers.appliance.name} and its cloud copy",
        grouped=True,
    )
    if args.report:
        from greenzone.sync.markdown import parity_markdown

        generated = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
        write_text_atomic(Path(args.report), parity_markdown(report, generated=generated))
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


def _probes(
    args: argparse.Namespace, sources: Sources, *, same_engine: bool
) -> tuple[list[Check], dict[str, dict[str, object]]]:
    from greenzone.sync.probe_client import ask_all
    from greenzone.sync.probes import SYNTHETIC_PROMPTS, judge_probes, latency_summary

    cloud_url = args.cloud_endpoint or sources.target.cloud.inference_url
    if not args.onprem_endpoint or not cloud_url:
        missing = (
            "--onprem-endpoint" if not args.onprem_endpoint else "the target's inference_url (or --cloud-endpoint)"
        )
        return [verdict("probe suite", Status.SKIP, f"not run: {missing} is not given", group="probes")], {}
    prompts = _prompts(args.prompts) if args.prompts else list(SYNTHETIC_PROMPTS)
    checks: list[Check] = []
    latency: dict[str, dict[str, object]] = {}
    for model in sources.answers.inference.models:
        here = ask_all(args.onprem_endpoint, model, prompts, ca_file=args.onprem_ca)
        there = ask_all(cloud_url, model, prompts, ca_file=sources.target.cloud.ca_file)
        checks.extend(judge_probes(model, here, there, same_engine=same_engine))
        latency[model] = {"on-prem": latency_summary(here), "cloud": latency_summary(there)}
    return checks, latency


def _prompts(path: Path) -> list[str]:
    import yaml

    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as error:
        raise InputError(f"cannot read prompts from {path}: {error}", hint="write a YAML list of strings") from None
    if not isinstance(loaded, list) or not loaded or not all(isinstance(item, str) and item for item in loaded):
        raise InputError(
            f"{path} must be a YAML list of prompt strings",
            hint="one synthetic prompt per `- ` line; never customer data, the prompts go to the cloud",
        )
    return loaded

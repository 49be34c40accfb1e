"""Command wiring only: parse arguments, call a command, render what it returns, map errors to exit codes.

Command modules are imported only when their command runs, so `greenzone --help` stays fast on a
slow appliance console (pydantic, rich, NVML and the Kubernetes client are never loaded for it).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeAlias

from greenzone import __version__
from greenzone.results import ExitCode

if TYPE_CHECKING:
    import logging

    from greenzone.errors import GreenzoneError

Handler = Callable[[argparse.Namespace], Any]


class _Parser(argparse.ArgumentParser):
    """Usage mistakes exit with the input-error code, not argparse's 2 (which means "a check failed")."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(int(ExitCode.INPUT), f"error: {message}\nhint: see `{self.prog} --help`\n")


def _command(
    sub: argparse._SubParsersAction[_Parser], name: str, target: str, help_text: str, description: str = ""
) -> _Parser:
    """A command whose handler is `module:function`, imported only when the command runs."""
    parser = sub.add_parser(name, help=help_text, description=description or help_text)
    parser.set_defaults(handler=target)
    return parser


def _whole(minimum: int) -> Callable[[str], int]:
    """A whole number of at least `minimum` (a worker count of -3 is a typo, not a bug to crash on)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is less than {minimum}")
        return value

    return parse


def _seconds(text: str) -> float:
    """A positive, finite number of seconds."""
    import math

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number of seconds")
    if value > 86400:
        raise argparse.ArgumentTypeError(f"{text} seconds is more than a day")
    return value


def _duration(text: str) -> str:
    """Helm's duration syntax, checked here rather than by helm minutes later."""
    from greenzone.peers import duration_seconds

    try:
        duration_seconds(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return text


def _size(text: str) -> str:
    """A part size for --split, checked before anything is written."""
    from greenzone.bundle.pack import parse_size
    from greenzone.errors import InputError

    try:
        parse_size(text)
    except InputError as error:
        raise argparse.ArgumentTypeError(f"{error.title.removeprefix('--split ')} ({error.hint})") from None
    return text


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the machine-readable result envelope")


def build_parser() -> _Parser:
    parser = _Parser(
        prog="greenzone",
        description="Turn a bare-metal NVIDIA GPU server into a private, air-gapped AI node.",
        epilog="Exit codes: 0 pass, 1 warnings, 2 failures, 3 bad input, 4 environment problem, "
        "70 internal error, 130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"greenzone {__version__}")
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=None,
        help="state and log directory (default: $GREENZONE_STATE_DIR, else /var/lib/greenzone, else $XDG_STATE_HOME/greenzone)",
    )
    parser.add_argument("--debug", action="store_true", help="log to stderr and show tracebacks")
    commands = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)
    for register in COMMANDS:
        register(commands)
    return parser


Subparsers: TypeAlias = "argparse._SubParsersAction[_Parser]"


def _group(commands: Subparsers, name: str, help_text: str, description: str) -> Subparsers:
    """A command with actions of its own (`answers validate`); alone it prints its help."""
    group = commands.add_parser(name, help=help_text, description=description)
    group.set_defaults(handler=None, subparser=group)
    return group.add_subparsers(title=f"{name} commands", metavar="ACTION", parser_class=_Parser)


def _add_answers(commands: Subparsers) -> None:
    actions = _group(commands, "answers", "validate, explain and generate answer files", "Answer-file tools.")
    validate = _command(
        actions,
        "validate",
        "greenzone.commands.answers:validate",
        "check answer files and report every problem with its line",
    )
    validate.add_argument("files", nargs="+", type=Path, metavar="FILE", help="answer file(s) to check")
    validate.add_argument(
        "--bundle", type=Path, default=None, help="bundle directory whose models the answers must name"
    )
    validate.add_argument(
        "--gpus", type=_whole(0), default=None, metavar="N", help="GPUs the target has (for quota checks)"
    )
    validate.add_argument(
        "--here",
        action="store_true",
        help="this is the machine the answers are for: every file they name must exist here",
    )
    _json_flag(validate)
    _command(
        actions,
        "schema",
        "greenzone.commands.answers:schema",
        "print the answer file's JSON Schema (for editor completion)",
    )
    _command(
        actions,
        "example",
        "greenzone.commands.answers:example",
        "print a commented example answer file",
    )


def _add_preflight(commands: Subparsers) -> None:
    preflight = _command(
        commands,
        "preflight",
        "greenzone.commands.preflight:preflight",
        "check that this machine can run the appliance (GPUs via NVML, CPU, memory, disk, OS, ports)",
    )
    preflight.add_argument("--answers", type=Path, default=None, metavar="FILE", help="judge against this answer file")
    preflight.add_argument(
        "--bundle",
        type=Path,
        default=None,
        metavar="DIR",
        help="bundle whose models must fit (default: the answers' bundle.path)",
    )
    _json_flag(preflight)


def _add_bundle(commands: Subparsers) -> None:
    actions = _group(commands, "bundle", "build, sign, verify and pack air-gap bundles", "Air-gap bundle tools.")
    keygen = _command(
        actions, "keygen", "greenzone.commands.bundle:keygen", "create an ed25519 key pair for signing bundles"
    )
    keygen.add_argument(
        "--out", type=Path, required=True, metavar="FILE", help="private key file; FILE.pub is the public key"
    )
    sign = _command(actions, "sign", "greenzone.commands.bundle:sign", "sign a bundle's manifest (bundle.yaml.sig)")
    sign.add_argument("bundle", type=Path, metavar="DIR")
    sign.add_argument("--key", type=Path, required=True, metavar="PRIVATE_KEY")
    verify = _command(
        actions,
        "verify",
        "greenzone.commands.bundle:verify",
        "check a bundle's signature and re-hash every file, naming each missing, extra or altered one",
    )
    verify.add_argument(
        "bundle",
        type=Path,
        metavar="DIR|PARTS",
        help="a bundle directory, or the .sha256 list (or any part) written by `bundle pack`",
    )
    verify.add_argument("--key", type=Path, required=True, metavar="PUBLIC_KEY", help="the vendor's ed25519 public key")
    verify.add_argument(
        "--jobs", type=_whole(1), default=None, metavar="N", help="files hashed at once (default: cores + 1)"
    )
    verify.add_argument(
        "--unpack-to", type=Path, default=None, metavar="DIR", help="where parts are unpacked (default: beside them)"
    )
    _json_flag(verify)
    lock = _command(
        actions,
        "lock",
        "greenzone.commands.bundle:lock",
        "check a lock file, or fill its `unresolved` pins from upstream (--update, connected machine)",
    )
    lock.add_argument("lock", type=Path, metavar="LOCK", nargs="?", default=Path("airgap/bundle.lock.yaml"))
    lock.add_argument("--update", action="store_true", help="resolve every `unresolved` pin and write it into the file")
    lock.add_argument(
        "--auth", type=Path, default=None, metavar="FILE", help="registry credentials (docker config.json)"
    )
    build = _command(
        actions,
        "build",
        "greenzone.commands.bundle:build",
        "download and pull everything the lock pins into a bundle directory, checked byte for byte",
    )
    build.add_argument("--lock", type=Path, default=Path("airgap/bundle.lock.yaml"), metavar="FILE")
    build.add_argument("--out", type=Path, required=True, metavar="DIR", help="bundle directory (re-runs resume)")
    build.add_argument(
        "--auth", type=Path, default=None, metavar="FILE", help="registry credentials (docker config.json)"
    )
    build.add_argument("--helm", type=Path, default=None, metavar="PATH", help="helm binary to package our charts")
    build.add_argument("--sign-key", type=Path, default=None, metavar="PRIVATE_KEY", help="sign bundle.yaml when built")
    build.add_argument("--tar", type=Path, default=None, metavar="FILE", help="also write the bundle as FILE (a tar)")
    build.add_argument(
        "--split", type=_size, default=None, metavar="SIZE", help="cut the tar into parts, e.g. 4000M for FAT32"
    )
    build.add_argument("--pip-arg", action="append", metavar="ARG", help="extra argument for pip (repeatable)")
    build.add_argument(
        "--jobs",
        type=_whole(1),
        default=None,
        metavar="N",
        help="blobs pulled at once (default 6), files hashed at once",
    )
    build.add_argument(
        "--base",
        type=Path,
        default=None,
        metavar="MANIFEST",
        help="a delta: leave out what this bundle.yaml's bundle carries (the version the sites run)",
    )
    complete = _command(
        actions,
        "complete",
        "greenzone.commands.bundle:complete",
        "make a delta bundle whole from this appliance or its base bundle's directory, each file checked",
        "A delta bundle (`bundle build --base`) leaves out what its base carries. This copies those files "
        "into DIR, each checked against DIR's signed manifest: from the base bundle's directory (--base, "
        "which must be the exact bundle the delta was built against), or without --base from the appliance "
        "of --state-dir, which must run that bundle (Harbor's blobs, the nodes' k3s files and models, the "
        "state directory's copies; `upgrade` does the same as it starts). Then `bundle verify`, `install` "
        "and `upgrade` take DIR like any bundle. A re-run copies only what is still missing.",
    )
    complete.add_argument("bundle", type=Path, metavar="DIR", help="the delta bundle (written into)")
    complete.add_argument(
        "--base",
        type=Path,
        default=None,
        metavar="BASE_DIR",
        help="the base bundle's directory (without: from this appliance, as `upgrade` does)",
    )
    complete.add_argument(
        "--endpoint",
        action="append",
        default=None,
        metavar="NAME=URL",
        help="without --base: reach Harbor at another address, as for `greenzone health` (registry=URL)",
    )
    complete.add_argument(
        "--key",
        type=Path,
        required=True,
        metavar="FILE.pub",
        help="the vendor's public key (the delta is checked first)",
    )
    delta = _command(
        actions,
        "delta",
        "greenzone.commands.bundle:delta",
        "make a delta of a bundle already built against an older one, without downloading again",
        "Writes OUT (a new directory) with what FULL carries and BASE does not, each file checked against "
        "FULL's manifest while copied, and a manifest that still lists every file, marks the left-out ones "
        "and names BASE, signed with --sign-key. The same delta as `bundle build --base`; FULL is untouched.",
    )
    delta.add_argument("full", type=Path, metavar="FULL", help="the whole new bundle's directory")
    delta.add_argument(
        "--base", type=Path, required=True, metavar="BASE", help="the older bundle's directory or its bundle.yaml"
    )
    delta.add_argument("--out", type=Path, required=True, metavar="DIR", help="where the delta goes (must not exist)")
    delta.add_argument("--sign-key", type=Path, required=True, metavar="KEY", help="the vendor's private key")
    delta.add_argument(
        "--key", type=Path, default=None, metavar="FILE.pub", help="check FULL's signature with this key first"
    )
    pack = _command(
        actions,
        "pack",
        "greenzone.commands.bundle:pack",
        "write a built bundle as a tar, or parts for removable media",
    )
    pack.add_argument("bundle", type=Path, metavar="DIR")
    pack.add_argument("--out", type=Path, required=True, metavar="FILE", help="the tar (parts: FILE.000, FILE.001...)")
    pack.add_argument(
        "--key", type=Path, default=None, metavar="PUBLIC_KEY", help="also check the signature before packing"
    )
    pack.add_argument(
        "--split", type=_size, default=None, metavar="SIZE", help="part size, e.g. 4000M (FAT32 holds < 4 GiB)"
    )
    inspect = _command(
        actions,
        "inspect",
        "greenzone.commands.bundle:inspect",
        "list a bundle's components, images (with shared-layer savings) and models",
    )
    inspect.add_argument("bundle", type=Path, metavar="DIR")
    _json_flag(inspect)
    images = _command(
        actions,
        "images",
        "greenzone.commands.images:bundle_images",
        "render every chart with an appliance's values and check each image it runs is pinned in the lock",
    )
    images.add_argument(
        "--answers", type=Path, action="append", required=True, metavar="FILE", help="answer file (repeatable)"
    )
    images.add_argument("--lock", type=Path, default=Path("airgap/bundle.lock.yaml"), metavar="FILE")
    images.add_argument(
        "--charts",
        type=Path,
        action="append",
        metavar="DIR",
        help="where third-party charts are: a bundle's charts/ or a folder of chart directories (repeatable)",
    )
    images.add_argument("--write", type=Path, default=None, metavar="DIR", help="write DIR/<component>.txt lists")
    images.add_argument(
        "--helm",
        type=Path,
        default=None,
        metavar="PATH",
        help="helm binary (default: PATH, then the one the install unpacked)",
    )
    _json_flag(images)


def _add_values(commands: Subparsers) -> None:
    values = _command(
        commands,
        "values",
        "greenzone.commands.values:values",
        "write the Helm values of every release, rendered from an answer file",
    )
    values.add_argument("--answers", type=Path, required=True, metavar="FILE")
    values.add_argument(
        "--out", type=Path, default=None, metavar="DIR", help="write DIR/<release>.yaml (default: print)"
    )
    values.add_argument(
        "--release", action="append", default=None, metavar="NAME", help="only this release (repeatable)"
    )
    _json_flag(values)


def _add_deploy(commands: Subparsers) -> None:
    deploy = _command(
        commands,
        "deploy",
        "greenzone.commands.deploy:deploy",
        "run the install playbooks for an answer file, phase by phase (resumes after a failure)",
    )
    deploy.add_argument("--answers", type=Path, required=True, metavar="FILE")
    deploy.add_argument("--bundle", type=Path, default=None, metavar="DIR", help="bundle (default: bundle.path)")
    deploy.add_argument("--phase", action="append", default=None, metavar="NAME", help="only this phase (repeatable)")
    deploy.add_argument("--check", action="store_true", help="predict the changes (Ansible check mode)")
    deploy.add_argument(
        "--skip-tags",
        action="append",
        default=None,
        metavar="TAG",
        help="skip tasks with this tag, e.g. `cluster` or `gpu` (repeatable)",
    )
    deploy.add_argument(
        "--force-preflight",
        action="append",
        default=None,
        metavar="CHECKS",
        help="start although these failing node checks fail, e.g. `cpu,memory` (comma-separated, repeatable)",
    )
    deploy.add_argument(
        "--rerun",
        action="store_true",
        help="run the selected phases even when done with these answers and bundle (the idempotence check)",
    )
    _json_flag(deploy)


def _add_install(commands: Subparsers) -> None:
    install = _command(
        commands,
        "install",
        "greenzone.commands.install:install",
        "install the appliance: the wizard on a terminal, or unattended from an answer file",
        "Install the appliance. On a terminal this opens the wizard (prefilled from --answers when given); "
        "without a terminal, or with --no-tui, it runs unattended from --answers: preflight, bundle "
        "verification, plan, install. Interrupted installs resume where they stopped.",
    )
    install.add_argument("--answers", type=Path, default=None, metavar="FILE", help="answer file to install from")
    install.add_argument("--bundle", type=Path, default=None, metavar="DIR", help="bundle (default: bundle.path)")
    install.add_argument(
        "--key", type=Path, default=None, metavar="FILE.pub", help="vendor public key (default: bundle.public_key)"
    )
    install.add_argument("--yes", action="store_true", help="start without asking (unattended installs need it)")
    install.add_argument(
        "--check", action="store_true", help="print the plan and predict the changes (Ansible check mode)"
    )
    install.add_argument("--no-tui", action="store_true", help="plain line-per-event output even on a terminal")
    install.add_argument(
        "--output", choices=("text", "json"), default="text", help="json: one JSON event per line (implies --no-tui)"
    )
    install.add_argument(
        "--force-preflight",
        action="append",
        default=None,
        metavar="CHECKS",
        help="start although these failing checks fail, e.g. `cpu,memory` (comma-separated, repeatable)",
    )
    install.add_argument(
        "--skip-tags",
        action="append",
        default=None,
        metavar="TAG",
        help="skip playbook tasks with this tag, e.g. `gpu` on a machine without GPUs yet (repeatable)",
    )


def _add_health(commands: Subparsers) -> None:
    health = _command(
        commands,
        "health",
        "greenzone.commands.health:health",
        "check that the running appliance works, layer by layer (GPU, cluster, registry, inference, green zone)",
        "Check the running appliance: host (NVML, GPU temperature, memory, ECC, Xid errors, clocks, disks), "
        "cluster (API, nodes, GPU allocatable, GPU operator, pods), registry (Harbor, images), inference (a "
        "one-token request per model, chat UI) and green zone (egress denied, certificates). Every call has "
        "a timeout and the whole run ends within --budget. Without --answers it reads what the last install "
        "recorded in the state directory.",
    )
    health.add_argument("--answers", type=Path, default=None, metavar="FILE", help="the answers the appliance runs")
    health.add_argument(
        "--bundle", type=Path, default=None, metavar="DIR", help="bundle whose images must be in the registry"
    )
    health.add_argument(
        "--layer",
        action="append",
        default=None,
        choices=("host", "cluster", "registry", "inference", "green zone"),
        help="only this layer (repeatable)",
    )
    health.add_argument(
        "--endpoint",
        action="append",
        default=None,
        metavar="NAME=URL",
        help="reach a layer at another address: registry, inference, chat or kube (e.g. through a port-forward)",
    )
    health.add_argument(
        "--budget", type=_seconds, default=10.0, metavar="SECONDS", help="the whole run ends within this (default 10)"
    )
    health.add_argument(
        "--watch", type=_seconds, default=None, metavar="SECONDS", help="run again every SECONDS until Ctrl-C"
    )
    health.add_argument(
        "--metrics",
        type=Path,
        default=None,
        metavar="FILE",
        help="also write the results in Prometheus text format (node-exporter textfile collector), atomically",
    )
    _json_flag(health)


def _add_sync(commands: Subparsers) -> None:
    sync = _command(
        commands,
        "sync",
        "greenzone.commands.sync:sync",
        "mirror the bundle's charts and images into a cloud registry and install the same releases there",
        "Build the vendor's cloud copy of an appliance from its signed bundle: push every chart (helm push, "
        "same versions) and every image (digests kept, blobs the registry holds skipped) to the target's "
        "registry, render each release with the appliance's values plus the target's overlay, images "
        "rewritten to the cloud registry by digest, and install them in the target's Kubernetes context, "
        "or write them for GitOps with --render-only. Re-running resumes and changes only what differs.",
    )
    _target_arguments(sync)
    sync.add_argument("--key", type=Path, default=None, metavar="PUBLIC_KEY", help="bundle key (default: the answers')")
    sync.add_argument(
        "--render-only", type=Path, default=None, metavar="DIR", help="write DIR/<release>/ manifests, install nothing"
    )
    sync.add_argument(
        "--timeout", type=_duration, default="10m", metavar="DURATION", help="wait per release (default 10m)"
    )
    _json_flag(sync)


def _add_parity(commands: Subparsers) -> None:
    parity = _command(
        commands,
        "parity",
        "greenzone.commands.sync:parity",
        "prove the cloud copy runs what the appliance runs: charts, image digests, values, model answers",
        "Compare the appliance and its cloud copy: chart and version per release, image digest per container, "
        "values once the target's overlay is taken out, the cloud registry's content against the bundle, and a "
        "suite of synthetic prompts sent to both inference endpoints (availability, latency, same answers at "
        "temperature 0). Each side is read live (a kubeconfig) or from rendered manifests.",
    )
    _target_arguments(parity)
    parity.add_argument(
        "--onprem-kubeconfig",
        type=Path,
        default=None,
        metavar="FILE",
        help="read the appliance live (default: render the bundle's charts with the answers' values)",
    )
    parity.add_argument("--onprem-context", default=None, metavar="NAME", help="context in --onprem-kubeconfig")
    parity.add_argument(
        "--cloud-rendered",
        type=Path,
        default=None,
        metavar="DIR",
        help="read the cloud side from `sync --render-only DIR` output instead of the target's cluster",
    )
    parity.add_argument(
        "--onprem-endpoint", default=None, metavar="URL", help="the appliance's inference API (enables the probes)"
    )
    parity.add_argument("--onprem-ca", type=Path, default=None, metavar="FILE", help="CA of --onprem-endpoint")
    parity.add_argument(
        "--onprem-key-env",
        default=None,
        metavar="VAR",
        help="environment variable holding a key of the appliance's gateway (e.g. a department's)",
    )
    parity.add_argument(
        "--cloud-endpoint", default=None, metavar="URL", help="the cloud copy's inference API (default: the target's)"
    )
    parity.add_argument(
        "--cloud-key-env",
        default=None,
        metavar="VAR",
        help="environment variable holding a key of the cloud copy's gateway (default: the target's inference_key_env)",
    )
    parity.add_argument(
        "--prompts", type=Path, default=None, metavar="FILE", help="YAML list of synthetic prompts (default: built in)"
    )
    parity.add_argument("--report", type=Path, default=None, metavar="FILE.md", help="also write a Markdown report")
    parity.add_argument(
        "--no-registry", action="store_true", help="do not compare the cloud registry's content with the bundle"
    )
    _json_flag(parity)


def _add_support_bundle(commands: Subparsers) -> None:
    support = _command(
        commands,
        "support-bundle",
        "greenzone.commands.support:support_bundle",
        "collect what the vendor needs into one redacted archive (offline); `analyze FILE` reads one",
        "Collect, redact and write one .tar.gz (mode 0600) for the vendor: greenzone's version, install "
        "state and logs, the installed answers and bundle manifest, a fresh `greenzone health` run with "
        "what its readers saw, the host's facts, NVIDIA kernel lines, k3s journal, memory, mounts and "
        "clock, the cluster's events, workloads, Helm release metadata and container logs. Secrets, keys, "
        "tokens and request/answer text never enter it. Each collector has its own timeout inside "
        "--budget and the archive is always written; index.json says what each got.",
    )
    support.add_argument(
        "--out",
        type=Path,
        default=None,
        metavar="FILE",
        help="the archive (default: ./greenzone-support-HOST-TIME.tar.gz)",
    )
    support.add_argument(
        "--since",
        default="24h",
        metavar="DURATION",
        help="the k3s journals since (e.g. 30m, 6h, 2d; default 24h); events are what the API keeps",
    )
    support.add_argument(
        "--redact-ips", action="store_true", help="also replace IP addresses and the site's host names by stand-ins"
    )
    support.add_argument(
        "--budget", type=_seconds, default=60.0, metavar="SECONDS", help="written within this (default 60)"
    )
    support.add_argument(
        "--endpoint",
        action="append",
        default=None,
        metavar="NAME=URL",
        help="reach a layer at another address, as for `greenzone health`: registry, inference, chat or kube",
    )
    _json_flag(support)
    actions = support.add_subparsers(title="support-bundle commands", metavar="ACTION", parser_class=_Parser)
    analyze = _command(
        actions,
        "analyze",
        "greenzone.commands.support:analyze",
        "read a support bundle offline: known failure signatures, each with its remedy",
        "The vendor's side, offline: health's own verdicts on what the bundle recorded, plus the known "
        "signatures (image pulls Harbor cannot serve, hardware Xids, engine OOM-kills and crash loops, "
        "disk pressure, expiring certificates, GPU allocatable 0, operator validation failures, NotReady "
        "nodes, clock skew), in the results table.",
    )
    analyze.add_argument("file", type=Path, metavar="FILE", help="the .tar.gz `greenzone support-bundle` wrote")
    _json_flag(analyze)


def _add_reset(commands: Subparsers) -> None:
    reset = _command(
        commands,
        "reset",
        "greenzone.commands.reset:reset",
        "take the whole appliance back to clean machines (asks for the appliance's name)",
        "Uninstall the Helm releases, remove k3s from every node with its own uninstall scripts and "
        "what greenzone put there (the model store only without --keep-models), then move the state "
        "directory to a dated backup beside it, logs and credentials kept. On a terminal it asks you to "
        "type the appliance's name; --yes for automation; --check lists what would be removed and "
        "changes nothing. A second reset changes nothing.",
    )
    reset.add_argument(
        "--answers", type=Path, default=None, metavar="FILE", help="the nodes to reset (default: the installed answers)"
    )
    reset.add_argument("--keep-models", action="store_true", help="keep the model store on the nodes")
    reset.add_argument("--yes", action="store_true", help="do not ask (automation)")
    reset.add_argument("--check", action="store_true", help="list what would be removed; change nothing")
    _json_flag(reset)


def _add_departments(commands: Subparsers) -> None:
    actions = _group(
        commands,
        "departments",
        "the inference gateway's departments: list them, hand one its key, rotate a key",
        "Each department calls the models through the inference gateway with its own key, kept in the "
        "installer's credentials file and in the Secret greenzone-gateway-key of its namespace.",
    )
    listing = _command(actions, "list", "greenzone.commands.departments:departments_list", "list the departments")
    _json_flag(listing)
    key = _command(
        actions,
        "key",
        "greenzone.commands.departments:departments_key",
        "print a department's key on stdout (to hand to its administrator)",
    )
    key.add_argument("name", metavar="NAME", help="the department")
    rotate = _command(
        actions,
        "rotate",
        "greenzone.commands.departments:departments_rotate",
        "give a department a new key (the old one stops working)",
        "Writes a new key to the credentials file, then to the gateway's Secret and the department's. "
        "The gateway takes it up without a restart; applications reading the department's Secret at "
        "start need a restart.",
    )
    rotate.add_argument("name", metavar="NAME", help="the department")
    rotate.add_argument("--yes", action="store_true", help="do not ask (automation)")
    rotate.add_argument("--check", action="store_true", help="say what would change; change nothing")
    _json_flag(rotate)


def _add_node(commands: Subparsers) -> None:
    actions = _group(commands, "node", "change the appliance's nodes after the install", "Nodes after the install.")
    add = _command(
        actions,
        "add",
        "greenzone.commands.node:node_add",
        "join a new node described in the answers (the installed answers plus that node)",
        "The answers must be the installed ones plus NAME and nothing else, valid by the install's rules "
        "(an odd number of servers). Runs the install's preflight, k3s and images phases on that node "
        "alone, from the bundle on this machine (the node needs no drive); it joins with the cluster's "
        "full token; then a health run. The installed answers name it once that succeeded.",
    )
    add.add_argument("name", metavar="NAME", help="the new node's name in the answers")
    add.add_argument("--answers", type=Path, required=True, metavar="FILE", help="the installed answers plus the node")
    add.add_argument(
        "--force-preflight", action="append", default=[], metavar="CHECKS", help="accept these failed checks"
    )
    add.add_argument(
        "--skip-tags",
        action="append",
        default=None,
        metavar="TAG",
        help="skip playbook tasks with this tag (repeatable)",
    )
    add.add_argument(
        "--wait",
        type=_whole(0),
        default=900,
        metavar="SECONDS",
        help="how long to wait for the node Ready and, on a GPU node, its GPUs offered (default 900)",
    )
    add.add_argument("--yes", action="store_true", help="do not ask (automation)")
    add.add_argument("--check", action="store_true", help="predict; change nothing")
    _json_flag(add)
    remove = _command(
        actions,
        "remove",
        "greenzone.commands.node:node_remove",
        "drain a node, take it out of the cluster, reset it and drop it from the installed answers",
        "Refused before anything changes when the appliance would not be valid without the node (the "
        "install's own rules: an odd number of servers for etcd, quotas), when it is the only node or "
        "the first server. Drains it (PodDisruptionBudgets respected unless --force), deletes its Node "
        "(a server's etcd member goes with it), resets it like `greenzone reset`, then rewrites the "
        "installed answers and inventory.",
    )
    remove.add_argument("name", metavar="NAME", help="the node's name in the answers")
    remove.add_argument("--force", action="store_true", help="drain without eviction (ignores PodDisruptionBudgets)")
    remove.add_argument("--keep-models", action="store_true", help="keep the model store on the node")
    remove.add_argument("--yes", action="store_true", help="do not ask (automation)")
    remove.add_argument("--check", action="store_true", help="predict; change nothing")
    _json_flag(remove)


def _add_upgrade(commands: Subparsers) -> None:
    upgrade = _command(
        commands,
        "upgrade",
        "greenzone.commands.upgrade:upgrade",
        "upgrade the running appliance from a newer bundle: the plan, a preflight, then the phases",
        "Compare the installed bundle with NEW: versions old -> new, each release's chart and values "
        "differences, images added and removed with bytes, models, which services restart and what users "
        "notice, the k3s order. Refused before any change when the new bundle does not verify with the "
        "site's key, k3s would go down or skip a minor version, a chart would go down (unless "
        "--allow-downgrade), the disks lack room, or health fails (unless each failing check is named with "
        "--accept-failing). Then new images go in first, k3s servers one at a time then agents, then the "
        "releases, each followed by a health gate that stops and rolls that release back. The same "
        "command resumes a stopped upgrade. On a console it shows the plan and runs in screens (--no-tui for the "
        "table and a y/N question). --finalize deletes what the previous version left.",
    )
    upgrade.add_argument("--bundle", type=Path, default=None, metavar="NEW", help="the new bundle's directory")
    upgrade.add_argument(
        "--answers", type=Path, default=None, metavar="FILE", help="answers to apply (default: the installed ones)"
    )
    upgrade.add_argument("--check", action="store_true", help="show the plan and its preflight; change nothing")
    upgrade.add_argument("--yes", action="store_true", help="do not ask (automation)")
    upgrade.add_argument("--no-tui", action="store_true", help="the plan table and a y/N question even on a terminal")
    upgrade.add_argument("--allow-downgrade", action="store_true", help="accept a chart older than the installed one")
    upgrade.add_argument(
        "--accept-failing",
        action="append",
        default=None,
        metavar="CHECK",
        help="start although this health check fails (repeatable; each must be failing now)",
    )
    upgrade.add_argument(
        "--force-preflight", action="append", default=[], metavar="CHECKS", help="accept these failed node checks"
    )
    upgrade.add_argument(
        "--endpoint",
        action="append",
        default=None,
        metavar="NAME=URL",
        help="reach a layer at another address for the health checks, as for `greenzone health`",
    )
    upgrade.add_argument(
        "--skip-tags", action="append", default=None, metavar="TAG", help="skip playbook tasks with this tag"
    )
    upgrade.add_argument(
        "--finalize",
        action="store_true",
        help="after a successful upgrade: delete the previous version's images and models no release uses",
    )
    _json_flag(upgrade)
    rollback = _command(
        commands,
        "rollback",
        "greenzone.commands.rollback:rollback",
        "return every Helm release to its revision before the last upgrade (until --finalize)",
        "Rolls each release back to the revision the last upgrade recorded, newest first, and puts the "
        "previous answers, manifest and values back as the installed ones. k3s is not downgraded. "
        "The previous version's images are still there until `greenzone upgrade --finalize`.",
    )
    rollback.add_argument("--yes", action="store_true", help="do not ask (automation)")
    rollback.add_argument("--check", action="store_true", help="list what would be rolled back; change nothing")
    _json_flag(rollback)


def _add_status(commands: Subparsers) -> None:
    status = _command(
        commands,
        "status",
        "greenzone.commands.status:status",
        "what is installed here and how it got there: version, bundle, phases, every upgrade and rollback",
        "Read from the state directory alone (`greenzone health` asks the running appliance): the installed "
        "version, bundle and nodes, whether every phase is done, the last health run, and every upgrade and "
        "rollback with when, what it went from and to, its phases and its outcome.",
    )
    _json_flag(status)


COMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    _add_answers,
    _add_preflight,
    _add_bundle,
    _add_values,
    _add_deploy,
    _add_install,
    _add_upgrade,
    _add_status,
    _add_health,
    _add_support_bundle,
    _add_reset,
    _add_node,
    _add_departments,
    _add_sync,
    _add_parity,
)
"""Each registers one top-level command, in the order `--help` lists them."""


def _target_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--target",
        type=Path,
        required=True,
        metavar="FILE",
        help="the cloud target: its own YAML file, or an answer file with a `cloud:` section",
    )
    parser.add_argument(
        "--answers", type=Path, default=None, metavar="FILE", help="the appliance's answers (default: the target file)"
    )
    parser.add_argument("--bundle", type=Path, default=None, metavar="DIR", help="bundle (default: bundle.path)")
    parser.add_argument(
        "--helm",
        type=Path,
        default=None,
        metavar="PATH",
        help="helm binary (default: PATH, then the one the install unpacked)",
    )


CHANGING = frozenset(
    f"greenzone.commands.{name}"
    for name in (
        "install:install",
        "deploy:deploy",
        "upgrade:upgrade",
        "rollback:rollback",
        "node:node_add",
        "node:node_remove",
        "reset:reset",
        "departments:departments_rotate",
    )
)
"""Commands that change the appliance: one at a time per state directory (greenzone.statelock)."""


def _resolve(target: str) -> Handler:
    module_name, _, function = target.partition(":")
    handler: Handler = getattr(importlib.import_module(module_name), function)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    # First of all, so that a SIGTERM in the first instant is handled like one a minute later.
    with _signals_interrupt():
        try:
            return _main(argv)
        except KeyboardInterrupt as interrupt:  # before the command started: nothing to clean up
            return _interrupted(interrupt)


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    target = getattr(args, "handler", None)
    if target is None:
        (getattr(args, "subparser", None) or parser).print_help()
        return int(ExitCode.INPUT)

    import logging

    from greenzone import logs
    from greenzone.errors import GreenzoneError
    from greenzone.statedir import ENV_VAR, StateDir
    from greenzone.yamlpos import YamlRefused

    state = StateDir.locate(args.state_dir)
    # `--state-dir` holds for the whole process and what it starts: code that locates the state
    # directory itself (helm unpacked there, the playbooks' modules) finds the same one.
    os.environ[ENV_VAR] = str(state)
    log_path = logs.setup_logging(state, debug=args.debug)
    log = logging.getLogger("greenzone.cli")
    log.info("greenzone %s: %s", __version__, " ".join(sys.argv[1:] if argv is None else argv))
    try:
        from greenzone.peers import check_environment

        check_environment()
        if target in CHANGING:
            from greenzone.statelock import changing

            with changing(state, target.rpartition(":")[2].replace("_", " ")):
                outcome = _resolve(target)(args)
        else:
            outcome = _resolve(target)(args)
        return emit(outcome, json_mode=bool(getattr(args, "json", False)))
    except GreenzoneError as error:
        return _report_error(error, log)
    except YamlRefused as error:  # a reader without its own wording for a refused YAML document
        from greenzone.errors import InputError

        return _report_error(InputError(str(error), hint=error.issue.hint), log)
    except OSError as error:  # the floor for a refusal no command anticipated: still the user's, not a bug
        from greenzone.errors import from_os_error

        log.debug("unanticipated OS error", exc_info=True)
        return _report_error(from_os_error(error), log)
    except UnicodeDecodeError as error:
        from greenzone.errors import InputError

        log.debug("unanticipated decode error", exc_info=True)
        return _report_error(
            InputError(
                f"an input file is not UTF-8 text ({error.reason} at byte {error.start})", hint="save it as UTF-8"
            ),
            log,
        )
    except KeyboardInterrupt as interrupt:
        log.warning("interrupted (%s)", getattr(interrupt, "signal_name", "Ctrl-C"))
        return _interrupted(interrupt)
    except Exception as error:
        wrapped = _interrupt_within(error)
        if wrapped is not None:  # a signal that Python re-raised wrapped (during an import, say)
            log.warning("interrupted (%s), inside %s", getattr(wrapped, "signal_name", "Ctrl-C"), type(error).__name__)
            return _interrupted(wrapped)
        log.exception("internal error")
        if args.debug:
            raise
        where = f"; the traceback is in {log_path}" if log_path else ""
        print(
            f"internal error: this is a bug in greenzone{where}. Re-run with --debug to see it.",
            file=sys.stderr,
        )
        return int(ExitCode.INTERNAL)


class _Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the program is, so every command unwinds exactly as on Ctrl-C:
    its `finally` blocks remove temporaries and stop children, and it exits 130."""

    def __init__(self, signal_name: str) -> None:
        super().__init__(signal_name)
        self.signal_name = signal_name


@contextlib.contextmanager
def _signals_interrupt() -> Iterator[None]:
    """Ctrl-C, SIGTERM (a `kill`, systemd stopping a unit) and SIGHUP (the SSH session dropped) end
    every command the same way. After the first, further ones are ignored so that they cannot cut
    the cleanup short; a signal the caller ignores (`nohup`) stays ignored. Commands with a cancel
    of their own (install, the wizard) install their own handlers inside this and restore these."""
    import signal

    from greenzone.interrupts import ENDING, defer, handling

    def raise_interrupt(signum: int, frame: object) -> None:
        for sig in ENDING:
            if signal.getsignal(sig) is not signal.SIG_IGN:
                signal.signal(sig, signal.SIG_IGN)
        interrupt = _Terminated("Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name)
        if not defer(interrupt):  # inside a deferred block it is raised at the block's end
            raise interrupt

    with handling(raise_interrupt):
        yield


def _interrupt_within(error: BaseException) -> KeyboardInterrupt | None:
    """The interrupt behind `error`, when Python wrapped one: an exception raised while a class body
    runs `__set_name__` comes out as a RuntimeError whose cause is the real one, so a SIGTERM that
    lands while a module is being imported must still end the command as an interrupt (exit 130)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def _interrupted(interrupt: KeyboardInterrupt) -> int:
    name = getattr(interrupt, "signal_name", "Ctrl-C")
    print(f"interrupted ({name}); nothing half-written was kept, run the same command again", file=sys.stderr)
    return int(ExitCode.INTERRUPTED)


def _report_error(error: GreenzoneError, log: logging.Logger) -> int:
    from greenzone import output

    log.error("%s (%s)", error.title, error.hint)
    output.print_error(error)
    return int(error.exit_code)


def emit(outcome: Any, *, json_mode: bool) -> int:
    """The one place that prints a command's result."""
    from greenzone import output
    from greenzone.results import Finished, Report

    if isinstance(outcome, Report):
        if json_mode:
            print(output.report_json(outcome))
        else:
            output.print_report(outcome, output.console())
        return int(outcome.exit_code)
    if isinstance(outcome, Finished):
        if json_mode:
            print(output.report_json(outcome.report))
            return int(outcome.exit_code)
        out = output.console()
        output.print_report(outcome.report, out)
        for line in outcome.notes:
            out.print(line, highlight=False)
        return int(outcome.exit_code)
    if isinstance(outcome, ExitCode):  # the command printed its own output (a stream of events)
        return int(outcome)
    if isinstance(outcome, str):
        sys.stdout.write(outcome if outcome.endswith("\n") else outcome + "\n")
        return int(ExitCode.OK)
    raise TypeError(f"command returned {type(outcome).__name__}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

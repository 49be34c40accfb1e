"""`greenzone departments`: the inference gateway's tenants after the install: list them, hand a
department its key, rotate a key.

A key lives in three places: the installer's 0600 credentials file (the source of truth), the
department's Secret `greenzone-gateway-key` (where its applications read it) and, as a sha256 digest,
the gateway's Secret `greenzone-gateway-keys`. A rotation writes the credentials file first (through
a temporary file and a rename), then both Secrets; the gateway re-reads its mounted Secret when the
kubelet swaps it (within about a minute) without a restart, and from then on the old key gets 401.
"""

from __future__ import annotations

import argparse
import sys

from greenzone.answers.model import Answers
from greenzone.errors import EnvironmentProblem, InputError
from greenzone.results import Check, Report, Status
from greenzone.statedir import StateDir
from greenzone.values import gateway
from greenzone.values.ours import INFERENCE_NAMESPACE


def _department(answers: Answers, name: str) -> str:
    names = [department.name for department in answers.departments]
    if name not in names:
        raise InputError(
            f"no department {name!r} in the installed answers",
            hint=f"departments: {', '.join(names) or 'none'}; add one to the answers and re-run `greenzone install`",
        )
    return name


def departments_list(args: argparse.Namespace) -> Report:
    from greenzone.commands.installed import installed
    from greenzone.deploy.credentials import load_credentials

    state, answers = installed(args.state_dir)
    stored = load_credentials(state.credentials)
    checks = []
    for department in answers.departments:
        limits = [
            f"{department.requests_per_minute} requests/min" if department.requests_per_minute else "",
            f"{department.tokens_per_minute} tokens/min" if department.tokens_per_minute else "",
        ]
        limit = ", ".join(part for part in limits if part) or "no limit"
        has_key = bool(stored.get(gateway.credential_name(department.name)))
        checks.append(
            Check(
                department.name,
                Status.PASS if has_key else Status.WARN,
                f"namespace {department.namespace_name}; {limit}; "
                + ("key stored" if has_key else "no key yet: `greenzone install` creates it"),
                group="departments",
            )
        )
    return Report(
        command="departments list",
        checks=tuple(checks),
        title=f"Departments of {answers.appliance.name}",
        data={"gateway": gateway.base_url(INFERENCE_NAMESPACE)},
    )


def departments_key(args: argparse.Namespace) -> str:
    """The key itself, on stdout only, for the department's administrator; nothing is logged."""
    from greenzone.commands.installed import installed
    from greenzone.deploy.credentials import load_credentials

    state, answers = installed(args.state_dir)
    name = _department(answers, args.name)
    key = load_credentials(state.credentials).get(gateway.credential_name(name))
    if not key:
        raise InputError(f"no key stored for {name!r}", hint="`greenzone install` creates the departments' keys")
    if sys.stdout.isatty():
        print(f"# {name}'s key for {gateway.base_url(INFERENCE_NAMESPACE)} (keep it secret):", file=sys.stderr)
    return key


def departments_rotate(args: argparse.Namespace) -> Report:
    from greenzone.commands.confirm import confirm
    from greenzone.commands.installed import installed
    from greenzone.deploy.credentials import load_credentials, save_credentials
    from greenzone.values.secrets import GATEWAY_KEYS, department_key_manifests, gateway_keys_manifest

    state, answers = installed(args.state_dir)
    name = _department(answers, args.name)
    department = next(d for d in answers.departments if d.name == name)
    where = f"{INFERENCE_NAMESPACE}/{GATEWAY_KEYS} and {department.namespace_name}/{gateway.DEPARTMENT_SECRET}"
    if args.check:
        return Report(
            command="departments rotate",
            checks=(Check(name, Status.SKIP, f"would write a new key to the credentials file, {where}", group="keys"),),
            title=f"Rotate {name}'s key (check: nothing changed)",
        )
    if not args.yes:
        confirm(f"Rotate {name}'s key? Its applications need the new one within a minute.", what="rotating a key")
    stored = load_credentials(state.credentials)
    wanted = dict(stored)
    wanted[gateway.credential_name(name)] = gateway.new_key()
    save_credentials(state.credentials, wanted)
    manifests = [gateway_keys_manifest(INFERENCE_NAMESPACE, wanted)]
    manifests += department_key_manifests(
        [{"name": name, "namespace": department.namespace_name}], INFERENCE_NAMESPACE, wanted
    )
    _apply(state, manifests, name)
    return Report(
        command="departments rotate",
        checks=(
            Check(name, Status.PASS, f"new key stored and written to {where}", group="keys"),
            Check(
                "old key",
                Status.PASS,
                "refused by the gateway once the kubelet updates its mounted Secret (about a minute)",
                group="keys",
            ),
        ),
        title=f"Rotated {name}'s key",
    )


def _apply(state: StateDir, manifests: list[dict[str, object]], name: str) -> None:
    from greenzone.cluster.kube import Kube

    kube = Kube(state.kubeconfig)
    written: list[str] = []
    try:
        for manifest in manifests:
            metadata = manifest["metadata"]
            existing = kube.secret(metadata["namespace"], metadata["name"])  # type: ignore[index]
            kube.put_secret(manifest, exists=existing is not None)
            written.append(f"{metadata['namespace']}/{metadata['name']}")  # type: ignore[index]
    except Exception as error:  # the client raises API, connection and timeout errors alike
        status = getattr(error, "status", None)
        names = [f"{m['metadata']['namespace']}/{m['metadata']['name']}" for m in manifests]  # type: ignore[index]
        missing = [where for where in names if where not in written]
        raise EnvironmentProblem(
            f"the new key is stored, but the cluster did not take all of it ({type(error).__name__}"
            + (f", HTTP {status}" if status else "")
            + f"): written {', '.join(written) or 'nothing'}; not written {', '.join(missing)}"
            + ("" if written else "; the gateway still accepts the old key"),
            hint=f"when the cluster answers, run `greenzone departments rotate {name}` again "
            "(or `greenzone deploy --phase guardrails`, which writes the stored keys to both Secrets)",
        ) from None

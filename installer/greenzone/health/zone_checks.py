"""Green-zone verdicts: egress stays denied in every zone namespace, and no certificate is about to lapse.

The egress check reads the policies as they are in the cluster, not as the chart wrote them: a
policy someone added by hand that opens the zone to the internet fails it just the same.
"""

from __future__ import annotations

import datetime
import functools
import ipaddress
from collections.abc import Iterator, Sequence
from typing import Any

from greenzone.health.observed import CertView, ClusterView, Obj
from greenzone.health.targets import Targets
from greenzone.results import Check, Status, verdict

LAYER = "green zone"
_check = functools.partial(verdict, group=LAYER)
CERT_FAIL_DAYS, CERT_WARN_DAYS = 14, 30
_DNS_PORT = 53


def _empty_selector(selector: Any) -> bool:
    return not selector or (not selector.get("matchLabels") and not selector.get("matchExpressions"))


def _is_default_deny(policy: Obj) -> bool:
    spec = policy.get("spec") or {}
    return (
        _empty_selector(spec.get("podSelector"))
        and "Egress" in (spec.get("policyTypes") or [])
        and not spec.get("egress")
    )


def _within(cidr: str, allowed: Sequence[str]) -> bool:
    try:
        network = ipaddress.ip_network(cidr, strict=False)
        return any(
            network.version == other.version and network.subnet_of(other)  # type: ignore[arg-type]
            for other in (ipaddress.ip_network(item, strict=False) for item in allowed)
        )
    except ValueError:
        return False


def _openings(policy: Obj, allowed: Sequence[str]) -> list[str]:
    """Egress rules of `policy` that reach outside the cluster beyond what the answers allow."""
    name = (policy.get("metadata") or {}).get("name", "?")
    found = []
    for rule in (policy.get("spec") or {}).get("egress") or []:
        ports = rule.get("ports") or []
        dns_only = bool(ports) and all(port.get("port") == _DNS_PORT for port in ports)
        peers = rule.get("to") or []
        if not peers and not dns_only:
            found.append(f"{name} allows egress to any destination")
        for peer in peers:
            block = peer.get("ipBlock")
            if block and not _within(str(block.get("cidr")), allowed):
                found.append(f"{name} allows egress to {block.get('cidr')}")
    return found


def egress_checks(view: ClusterView, targets: Targets) -> Iterator[Check]:
    allowed = list(targets.allow_cidrs) if targets.egress == "allow-list" else []
    remedy = "re-run `greenzone deploy --phase guardrails`; it restores the zone's policies"
    for namespace in targets.zone_namespaces:
        name = f"egress {namespace}"
        if namespace not in view.namespaces:
            yield _check(name, Status.FAIL, "the namespace does not exist", remedy)
            continue
        policies = view.network_policies.get(namespace, ())
        openings = [text for policy in policies for text in _openings(policy, allowed)]
        if not any(_is_default_deny(policy) for policy in policies):
            yield _check(name, Status.FAIL, "no default-deny egress policy: pods here can reach any network", remedy)
        elif openings:
            yield _check(
                name,
                Status.FAIL,
                "; ".join(openings),
                "remove that policy, or add the network to green_zone.allow_cidrs (egress: allow-list) and re-install",
            )
        else:
            extra = f"; allowed: {', '.join(allowed)}" if allowed else ""
            yield _check(name, Status.PASS, f"denied by default ({len(policies)} policies){extra}")


def cert_check(cert: CertView, now: datetime.datetime) -> Check:
    name = f"certificate {cert.name}"
    if cert.not_after is None:
        if cert.where.startswith("/"):
            return _check(
                name, Status.FAIL, f"{cert.where}: {cert.error}", "restore it from the backup of the state directory"
            )
        return _check(name, Status.SKIP, f"{cert.where}: {cert.error} (the layer it belongs to says why)")
    left = cert.not_after - now
    days = left.days
    detail = f"{cert.subject} at {cert.where}: valid until {cert.not_after:%Y-%m-%d}"
    remedy = (
        "k3s renews its certificates on restart within 120 days of expiry: `systemctl restart k3s`"
        if cert.name == "k3s API"
        else "replace it: new files in registry.tls (provided) or delete the stored pair to have the install "
        "issue a new one, then re-run `greenzone install`"
    )
    if left.total_seconds() <= 0:
        return _check(
            name, Status.FAIL, f"{cert.subject} at {cert.where}: expired on {cert.not_after:%Y-%m-%d}", remedy
        )
    if days < CERT_FAIL_DAYS:
        return _check(name, Status.FAIL, f"{detail}, {days} days left (less than {CERT_FAIL_DAYS})", remedy)
    if days < CERT_WARN_DAYS:
        return _check(name, Status.WARN, f"{detail}, {days} days left", remedy)
    return _check(name, Status.PASS, f"{detail} ({days} days)")


def zone_checks(
    view: ClusterView | None, certs: Sequence[CertView], targets: Targets, now: datetime.datetime
) -> Iterator[Check]:
    if view is None or view.error:
        yield _check("egress", Status.SKIP, "the Kubernetes API did not answer")
    else:
        yield from egress_checks(view, targets)
    for cert in certs:
        yield cert_check(cert, now)

"""The Settings screen's fields <-> the answer document (pure, no Textual).

The wizard edits a plain document (what an answer file holds) and validates it with the same model
and rules as `greenzone answers validate`, so the file the Review screen saves is accepted by the
unattended mode as is. Problems come back with their key path; `field_of` says which field shows them.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from greenzone.answers.problems import Problem
from greenzone.answers.rules import Context
from greenzone.answers.validate import Validation, validate_text
from greenzone.yamlpos import KeyPath

FIELD_PATHS: dict[str, KeyPath] = {
    "appliance_name": ("appliance", "name"),
    "hostname": ("network", "hostname"),
    "advertise_ip": ("network", "advertise_ip"),
    "tls_mode": ("registry", "tls", "mode"),
    "cert_file": ("registry", "tls", "cert_file"),
    "key_file": ("registry", "tls", "key_file"),
    "engine": ("inference", "engine"),
    "models": ("inference", "models"),
    "gpus_per_replica": ("inference", "gpus_per_replica"),
    "departments": ("departments",),
    "egress": ("green_zone", "egress"),
    "allow_cidrs": ("green_zone", "allow_cidrs"),
    "monitoring": ("monitoring", "enabled"),
}


@dataclass(frozen=True)
class Form:
    appliance_name: str = "greenzone"
    hostname: str = ""
    advertise_ip: str = ""
    tls_mode: str = "self-signed"
    cert_file: str = ""
    key_file: str = ""
    engine: str = "ollama"
    models: tuple[str, ...] = ()
    gpus_per_replica: str = "1"
    departments: str = ""
    egress: str = "deny"
    allow_cidrs: str = ""
    monitoring: bool = True


def _get(document: Mapping[str, Any], path: KeyPath, default: Any = None) -> Any:
    value: Any = document
    for key in path:
        if not isinstance(value, Mapping) or key not in value:
            return default
        value = value[key]
    return value


def _set(document: dict[str, Any], path: KeyPath, value: Any) -> None:
    """Set a key, or remove it when `value` is None so that the model's default applies."""
    node = document
    for key in path[:-1]:
        child = node.get(str(key))
        if not isinstance(child, dict):
            child = node[str(key)] = {}
        node = child
    if value is None:
        node.pop(str(path[-1]), None)
    else:
        node[str(path[-1])] = value


def departments_text(departments: Any) -> str:
    """`legal:1:32Gi, radiology:2:64Gi` — name, GPU quota, memory quota — one line for a narrow screen."""
    if not isinstance(departments, list):
        return ""
    parts = []
    for department in departments:
        if isinstance(department, Mapping):
            parts.append(
                f"{department.get('name', '')}:{department.get('gpu_quota', 0)}:{department.get('memory_quota', '32Gi')}"
            )
    return ", ".join(parts)


def _keep_unshown(before: Any, departments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The one-line field shows name, GPUs and memory only: a department that was already in the
    document keeps what the field cannot show (its namespace, its gateway limits), so the wizard never
    drops what a hand-written answer file set."""
    earlier = {d.get("name"): d for d in before if isinstance(d, Mapping)} if isinstance(before, list) else {}
    kept = []
    for department in departments:
        old = earlier.get(department["name"], {})
        merged = {key: value for key, value in old.items() if key not in ("gpu_quota", "memory_quota")}
        kept.append({**merged, **department})
    return kept


def parse_departments(text: str) -> tuple[list[dict[str, Any]], str]:
    """The departments, or a message saying which entry is malformed and how to write it."""
    found: list[dict[str, Any]] = []
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        name, *rest = (piece.strip() for piece in entry.split(":"))
        if len(rest) > 2 or not name:
            return [], f"`{entry}`: write name:gpus:memory, e.g. legal:1:32Gi"
        department: dict[str, Any] = {"name": name}
        if rest and rest[0]:
            if not rest[0].isdigit():
                return [], f"`{entry}`: the GPU quota `{rest[0]}` must be a whole number"
            department["gpu_quota"] = int(rest[0])
        if len(rest) > 1 and rest[1]:
            department["memory_quota"] = rest[1]
        found.append(department)
    return found, ""


def form_from_document(document: Mapping[str, Any]) -> Form:
    tls = _get(document, FIELD_PATHS["tls_mode"], "self-signed")
    return Form(
        appliance_name=str(_get(document, FIELD_PATHS["appliance_name"], "greenzone")),
        hostname=str(_get(document, FIELD_PATHS["hostname"], "")),
        advertise_ip=str(_get(document, FIELD_PATHS["advertise_ip"], "") or ""),
        tls_mode=str(tls),
        cert_file=str(_get(document, FIELD_PATHS["cert_file"], "") or ""),
        key_file=str(_get(document, FIELD_PATHS["key_file"], "") or ""),
        engine=str(_get(document, FIELD_PATHS["engine"], "ollama")),
        models=tuple(str(model) for model in _get(document, FIELD_PATHS["models"], []) or []),
        gpus_per_replica=str(_get(document, FIELD_PATHS["gpus_per_replica"], 1)),
        departments=departments_text(_get(document, FIELD_PATHS["departments"], [])),
        egress=str(_get(document, FIELD_PATHS["egress"], "deny")),
        allow_cidrs=", ".join(str(cidr) for cidr in _get(document, FIELD_PATHS["allow_cidrs"], []) or []),
        monitoring=bool(_get(document, FIELD_PATHS["monitoring"], True)),
    )


def apply_form(base: Mapping[str, Any], form: Form) -> tuple[dict[str, Any], list[Problem]]:
    """`base` (the loaded answer file, or the wizard's defaults) with the form's values; the fields
    the form could not even parse come back as problems of their own."""
    document = copy.deepcopy(dict(base))
    problems: list[Problem] = []
    _set(document, FIELD_PATHS["appliance_name"], form.appliance_name.strip())
    _set(document, FIELD_PATHS["hostname"], form.hostname.strip())
    _set(document, FIELD_PATHS["advertise_ip"], form.advertise_ip.strip() or None)
    provided = form.tls_mode == "provided"
    _set(document, FIELD_PATHS["tls_mode"], form.tls_mode)
    _set(document, FIELD_PATHS["cert_file"], form.cert_file.strip() or None if provided else None)
    _set(document, FIELD_PATHS["key_file"], form.key_file.strip() or None if provided else None)
    _set(document, FIELD_PATHS["engine"], form.engine)
    _set(document, FIELD_PATHS["models"], list(form.models))
    gpus = form.gpus_per_replica.strip()
    if gpus.isdigit():
        _set(document, FIELD_PATHS["gpus_per_replica"], int(gpus))
    else:
        problems.append(
            Problem(
                "error",
                FIELD_PATHS["gpus_per_replica"],
                f"`{gpus}` is not a whole number of GPUs",
                "e.g. 1; 0 serves Ollama on the CPU",
            )
        )
    departments, error = parse_departments(form.departments)
    if error:
        problems.append(Problem("error", FIELD_PATHS["departments"], error, "e.g. legal:1:32Gi, radiology:2:64Gi"))
    else:
        _set(
            document,
            FIELD_PATHS["departments"],
            _keep_unshown(_get(document, FIELD_PATHS["departments"], []), departments) or None,
        )
    _set(document, FIELD_PATHS["egress"], form.egress)
    cidrs = [cidr.strip() for cidr in form.allow_cidrs.split(",") if cidr.strip()]
    _set(document, FIELD_PATHS["allow_cidrs"], cidrs or None)
    _set(document, FIELD_PATHS["monitoring"], form.monitoring)
    return document, problems


def validate_document(document: Mapping[str, Any], context: Context) -> Validation:
    return validate_text(yaml.safe_dump(dict(document), sort_keys=False), "wizard", context)


def field_of(path: KeyPath) -> str:
    """The form field that shows a problem at `path`; `` for problems no field owns (shown in the list)."""
    best, length = "", 0
    for name, prefix in FIELD_PATHS.items():
        if tuple(path[: len(prefix)]) == prefix and len(prefix) > length:
            best, length = name, len(prefix)
    return best


FIELD_LABELS = {
    "appliance_name": "Appliance name",
    "hostname": "Host name",
    "advertise_ip": "Advertise IP",
    "tls_mode": "Harbor TLS",
    "cert_file": "certificate",
    "key_file": "private key",
    "engine": "Engine",
    "models": "Models",
    "gpus_per_replica": "GPUs per replica",
    "departments": "Departments",
    "egress": "Egress",
    "allow_cidrs": "allowed CIDRs",
    "monitoring": "Dashboards",
}
"""The labels the Settings screen shows; problems are told in these words, not the file's keys."""

# The answer file's phrasing -> the form's, most specific first. Keys the form has no field for
# keep their name, said to be set in an answer file.
_FORM_TERMS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern), replacement)
    for pattern, replacement in (
        (r"for example `[a-z_]+: ([^`]+)`", r"for example \1"),
        (r"`tls\.mode: provided`", "Harbor TLS “provided certificate”"),
        (r"`mode: self-signed`", "Harbor TLS “self-signed CA”"),
        (r"`egress: allow-list`", "Egress “allow-list”"),
        (r"`egress: deny`", "Egress “deny (DNS only)”"),
        (r"`?(?:registry\.tls\.)?cert_file`?", "“certificate”"),
        (r"`?(?:registry\.tls\.)?key_file`?", "“private key”"),
        (r"`?(?:green_zone\.)?allow_cidrs`?", "“allowed CIDRs”"),
        (r"the departments' gpu_quota", "the departments' GPU quotas"),
        (r"replicas or gpus_per_replica", "“GPUs per replica”"),
        (r"`?gpu\.time_slicing_replicas`?", "GPU sharing (gpu.time_slicing_replicas, set in an answer file)"),
        (r"`?bundle\.path`?", "the bundle directory"),
        (r"is already defined at departments\[\d+\]", "is listed twice"),
        (r"`([^`]*)`", r"“\1”"),  # last: a value left in the file's code quotes, quoted as the form quotes
    )
)


def in_form_terms(message: str, hint: str, path: KeyPath) -> tuple[str, str]:
    """A problem as the Settings screen says it: field labels for keys, the value itself for an
    example, and no hint where the validator had nothing better than "correct the value"."""
    if tuple(path[:2]) == FIELD_PATHS["models"] and message.startswith("List should have at least 1 item"):
        return "no model is chosen", "tick at least one of the bundle's models"
    for pattern, replacement in _FORM_TERMS:
        message, hint = pattern.sub(replacement, message), pattern.sub(replacement, hint)
    return message, "" if hint == "correct the value" else hint

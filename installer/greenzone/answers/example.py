"""`greenzone answers example`: a commented answer file generated from the model itself.

The comments are the field docstrings, so the example cannot drift from what validation accepts; a
test validates the output and the commented-out cloud section uncommented.
"""

from __future__ import annotations

import textwrap
import typing
from typing import Any

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from greenzone.answers.model import (
    Answers,
    Appliance,
    Bundle,
    Cloud,
    Department,
    GreenZone,
    Network,
    Node,
)
from greenzone.answers.schema_errors import _unwrap

#: Sections written commented out: optional, and wrong to enable by accident.
_COMMENTED_OUT = {"cloud"}

SAMPLE = Answers(
    appliance=Appliance(name="st-mary-radiology", description="Radiology reporting assistant, server room B"),
    nodes=[Node()],
    network=Network(hostname="ai.st-mary.local"),
    bundle=Bundle(path="/media/usb/greenzone-bundle", public_key="/media/usb/greenzone-bundle.pub"),
    departments=[
        Department(name="legal", gpu_quota=1, memory_quota="64Gi"),
        Department(name="hr", namespace="human-resources", gpu_quota=0, memory_quota="16Gi"),
    ],
    green_zone=GreenZone(egress="deny"),
    cloud=Cloud(
        kubeconfig="~/.kube/config",
        context="eks-greenzone-test",
        registry="123456789012.dkr.ecr.eu-west-1.amazonaws.com/greenzone",
        credentials_file="~/.docker/config.json",
        values_overlay="overlays/cloud.yaml",
    ),
)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    dumped = yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
    return dumped.removesuffix("\n...").removesuffix("...").strip()


def _comment(text: str, indent: str, width: int = 96) -> list[str]:
    flat = " ".join(text.split())
    return [f"{indent}# {line}" for line in textwrap.wrap(flat, width - len(indent) - 2)] if flat else []


def _field_lines(name: str, info: FieldInfo, value: Any, indent: str) -> list[str]:
    lines = _comment(info.description or "", indent)
    inner = _unwrap(info.annotation)
    is_list = typing.get_origin(inner) is list
    element = _unwrap(typing.get_args(inner)[0]) if is_list else inner
    nested = isinstance(element, type) and issubclass(element, BaseModel)
    if nested and is_list and value:
        lines.append(f"{indent}{name}:")
        for index, item in enumerate(value):
            body = _emit(element, item, indent + "    ")
            if index:  # the first item already explains each key
                body = [line for line in body if not line.lstrip().startswith("#")]
            first = next(i for i, line in enumerate(body) if not line.lstrip().startswith("#"))
            body[first] = f"{indent}  - {body[first].lstrip()}"
            lines.extend(body)
    elif nested and isinstance(value, dict):
        lines.append(f"{indent}{name}:")
        lines.extend(_emit(element, value, indent + "  "))
    else:
        lines.append(f"{indent}{name}: {_scalar(value)}".rstrip())
    return lines


def _emit(model: type[BaseModel], values: dict[str, Any], indent: str) -> list[str]:
    lines: list[str] = []
    for name, info in model.model_fields.items():
        lines.extend(_field_lines(name, info, values.get(name), indent))
    return lines


def example_yaml() -> str:
    data = SAMPLE.model_dump(mode="json")
    lines = [
        "# Greenzone answer file: the single description of one appliance install.",
        "# Validate with `greenzone answers validate FILE`; schema: `greenzone answers schema`.",
        "# Relative paths are read from this file's directory.",
        "",
    ]
    for name, info in Answers.model_fields.items():
        section = _field_lines(name, info, data[name], "")
        if name in _COMMENTED_OUT:
            section = [line if line.lstrip().startswith("#") else f"# {line}" for line in section]
        lines.extend([*section, ""])
    return "\n".join(lines).rstrip() + "\n"
